"""How faithfully the test rig's virtual microphone carries an utterance: the longest silence inside it.

Plays the Xvfb session test's utterance into a private PulseAudio server's virtual microphone N times with each
feeder, records the microphone (micsink.monitor) and reports, per play, the longest run of digital silence inside
the utterance (between its first and last sound) next to the source file's own longest pause. A feeder whose
client is starved of CPU (paplay with a 20 ms buffer under load) lets the null sink render silence: a gap that is
not in the speech, which the end-of-turn policy may rightly take for the end of the turn.

    python scripts/mic_feed_gaps.py [--plays 5] [--feeder paplay-20ms|paplay-1000ms|server-sample|all]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.rates import SPEECH_RATE_HZ  # noqa: E402
from testing.espeak import espeak  # noqa: E402
from testing.pulse_server import PulseServer  # noqa: E402

UTTERANCE = "I had a really wonderful day today."  # tests/ui/test_session_xvfb.py
SILENT = 1e-4  # |sample| below this is silence (the null sink renders exact zeros)
FEEDERS = ("paplay-20ms", "paplay-1000ms", "server-sample")


def longest_inner_silence_ms(x: np.ndarray, rate_hz: int) -> float:
    loud = np.flatnonzero(np.abs(x) >= SILENT)
    if loud.size < 2:
        return float("nan")
    gaps = np.diff(loud) - 1  # silent samples between consecutive sounding ones
    return float(gaps.max()) * 1000 / rate_hz


def record_play(server: PulseServer, feeder: str, wav: Path, seconds: float) -> np.ndarray:
    with tempfile.NamedTemporaryFile(suffix=".raw") as raw:
        rec = subprocess.Popen(["parec", "--device=micsink.monitor", "--latency-msec=20", "--raw",
                                "--format=float32le", f"--rate={SPEECH_RATE_HZ}", "--channels=1"],
                               env=server.env, stdout=open(raw.name, "wb"), stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        if feeder.startswith("paplay-"):
            latency = feeder.removeprefix("paplay-").removesuffix("ms")
            subprocess.run(["paplay", "--device=micsink", f"--latency-msec={latency}", str(wav)], env=server.env,
                           check=True)
        else:  # the rig's own feeder: the server plays it from its sample cache, no client in the loop
            server.play_to_mic(wav).wait(30)
            time.sleep(len(sf.read(str(wav))[0]) / SPEECH_RATE_HZ)
        time.sleep(seconds)
        rec.terminate()
        rec.wait(10)
        return np.fromfile(raw.name, dtype=np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plays", type=int, default=5)
    ap.add_argument("--feeder", choices=(*FEEDERS, "all"), default="all")
    args = ap.parse_args()
    feeders = FEEDERS if args.feeder == "all" else (args.feeder,)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        x, rate = espeak(UTTERANCE, tmp_path, "utt")
        source_ms = longest_inner_silence_ms(x, rate)
        wav = tmp_path / "utt16.wav"
        n = int(round(x.size * SPEECH_RATE_HZ / rate))
        sf.write(str(wav), np.interp(np.linspace(0, x.size - 1, n), np.arange(x.size), x).astype(np.float32),
                 SPEECH_RATE_HZ)
        runtime = tmp_path / "pulse"
        runtime.mkdir(mode=0o700)
        server = PulseServer(runtime)
        server.start()
        try:
            print(f"source: longest silence inside the utterance {source_ms:.0f} ms ({x.size / rate:.2f} s); "
                  f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
            for feeder in feeders:
                gaps = [longest_inner_silence_ms(record_play(server, feeder, wav, 0.5), SPEECH_RATE_HZ)
                        for _ in range(args.plays)]
                print(f"{feeder}: longest silence inside, per play (ms): {' '.join(f'{g:.0f}' for g in gaps)}; "
                      f"max {max(gaps):.0f}")
        finally:
            server.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
