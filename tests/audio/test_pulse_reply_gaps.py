"""Gaps inside a reply, measured from a recording of the PulseAudio speaker sink: the real PortAudio path, the
small preset (random weights) with the tiny decoder, the app's default vocoder schedule ("auto": planned from
this machine's measured speeds), the listeners on (tiny checkpoints through the app's ListenerBridge), espeak-ng
speech into the virtual microphone. Prints the longest gap and writes it to $OPENS2S_GAPS_JSON when set. The reply
runs in a fresh interpreter (tests/audio/reply_gaps_probe.py), as the app does.

Slow (model load, a ~6 s reply in real time); run: pytest -m "audio and slow" tests/audio/test_pulse_reply_gaps.py -s
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.audio.test_pulse import MONITOR_RATE_HZ, wav_of

pytestmark = [pytest.mark.audio, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
QUIET = 1e-4  # |sample| below this counts as silence (the jitter buffer's underrun fill is exact zeros)
GAP_LIMIT_MS = 20.0  # the figure: measured and printed (README)
# The test fails above this. Run alone on 2 cores: 0 gaps in 4 of 4 runs; inside the whole suite (2 busy cores):
# two gaps of 105-112 ms once. Before the playback plan modelled each call's real emission and the listeners waited
# for the reply to get ahead: one 48-188 ms gap per reply alone, 376-676 ms under load.
FAIL_GAP_MS = 200.0


# The user speaks once the listeners are ready: their first load (the imports of transformers' model modules) ran
# beside the first reply and took the CPU (2026-12-06: 244 and 678 ms gaps inside the whole suite, 318 ms alone;
# waiting for "ready": 18 and 32 ms). A real-time figure on a shared 2-core machine: one more try when the first
# has a gap over FAIL_GAP_MS (both are printed).
TRIES = 2


def gaps_ms(y: np.ndarray, rate_hz: int) -> list[float]:
    """Lengths of the quiet runs strictly inside the loud part of `y`."""
    return [length for _, length in gaps_at(y, rate_hz)]


def gaps_at(y: np.ndarray, rate_hz: int) -> list[tuple[float, float]]:
    """(start s after the first loud sample, length ms) of the quiet runs strictly inside the loud part of `y`."""
    loud = np.flatnonzero(np.abs(y) >= QUIET)
    if loud.size < 2:
        return []
    steps = np.diff(loud)
    return [((loud[i] + 1 - loud[0]) / rate_hz, 1000 * (s - 1) / rate_hz) for i, s in enumerate(steps) if s > 1]


def test_gaps_helper():
    y = np.ones(1000, np.float32)
    y[100:150] = 0
    assert gaps_ms(y, 1000) == [50.0]


def test_reply_has_no_gap_at_the_sink(pulse_server, speech_factory, tmp_path):
    wav = wav_of(speech_factory, "Could you tell me something about the weather?", tmp_path)
    tries = []
    for attempt in range(TRIES):
        out = tmp_path / f"try{attempt}.json"
        # a fresh interpreter, as the app runs: inside the whole suite, this process's PortAudio had been through a
        # killed and restarted sound server and dozens of engines (371-678 ms gaps there, 0-32 ms in a fresh one)
        res = subprocess.run([sys.executable, "-m", "tests.audio.reply_gaps_probe", str(pulse_server.runtime_dir),
                              str(wav), str(tmp_path / f"try{attempt}"), str(out)],
                             cwd=REPO, env=pulse_server.env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-3000:]
        result = json.loads(out.read_text())
        y = np.fromfile(result["rec"], dtype=np.float32)
        gaps = gaps_ms(y, MONITOR_RATE_HZ)
        figures = {**result["plan"], "played_s": result["played_s"], "generated_s": result["generated_s"],
                   "underruns": result["underruns"], "max_gap_ms": max(gaps, default=0.0),
                   "gaps_over_20ms": [g for g in gaps if g > GAP_LIMIT_MS],
                   "gaps_over_20ms_at_s": [round(t, 3) for t, g in gaps_at(y, MONITOR_RATE_HZ) if g > GAP_LIMIT_MS]}
        tries.append(figures)
        print(f"\nreply gaps at the sink (try {attempt + 1}):", json.dumps(figures))
        if figures["max_gap_ms"] <= FAIL_GAP_MS:
            break
    if os.environ.get("OPENS2S_GAPS_JSON"):
        with open(os.environ["OPENS2S_GAPS_JSON"], "w") as f:
            json.dump(tries, f)
    assert result["error"] is None and result["played_s"] > 1.0  # the reply reached the sink
    assert figures["max_gap_ms"] <= FAIL_GAP_MS, tries  # every try had a gap over the limit
    loud = np.flatnonzero(np.abs(y) >= QUIET)
    assert abs((loud[-1] - loud[0]) / MONITOR_RATE_HZ - result["played_s"]) < 0.5 + sum(gaps) / 1000
