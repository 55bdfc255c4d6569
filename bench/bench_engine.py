"""Engine latency: end of speech -> turn dispatched, and turn dispatched -> first reply sample at the output,
split into VAD, model, vocoder and buffering, plus the overhead beyond pure model + vocoder compute.

    python bench/bench_engine.py [--checkpoint DIR] [--decoder DIR] [--audio fake|pulse] [--turns 5] [--json]

Without --checkpoint / --decoder, tiny random ones are made in a temp dir; --sine-vocoder replaces the vocoder
by a no-compute sine stand-in. `--audio fake` replays espeak-ng speech through a fake
sounddevice backend in real time (48 kHz in, 44.1 kHz out); `--audio pulse` goes through a private PulseAudio
server and PortAudio. The pure-compute baseline reruns the same reply (same seed, same captured user audio)
outside the engine: runner iteration + vocoder push until the first audio chunk.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soxr
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.engine.config import AudioConfig, EngineConfig  # noqa: E402
from core.engine.engine import Engine  # noqa: E402
from core.engine.events import EngineState, ReplyEnded, UserTurnCaptured  # noqa: E402
from core.lm.conversation import Conversation  # noqa: E402
from core.lm.events import SpeechUnits  # noqa: E402
from core.lm.sampling import SamplingConfig  # noqa: E402
from core.turns.config import VadConfig  # noqa: E402
from core.voice.schedule_plan import PlaybackPlan  # noqa: E402
from testing.collector import EventCollector  # noqa: E402
from testing.espeak import espeak  # noqa: E402
from testing.fake_audio import FakeAudio  # noqa: E402
from testing.pulse_server import PulseServer  # noqa: E402
from testing.sine_vocoder import SineDecoder  # noqa: E402

PHRASE = "Hello there, how are you doing today?"
END_SILENCE_MS = VadConfig().end_silence_ms  # the app default
PREBUFFER_MS = 120.0
MAX_TEXT_TOKENS, MAX_UNITS = 24, 48


def load_models(args: argparse.Namespace, tmp: Path):
    from core.lm.runner import OpenS2SRunner

    ckpt = args.checkpoint
    if ckpt is None:
        from models.tiny_checkpoint import make_tiny_checkpoint

        ckpt = make_tiny_checkpoint(tmp / "tiny")
    runner = OpenS2SRunner.load(ckpt, device=args.device)
    if args.sine_vocoder:
        return runner, SineDecoder(), "sine (no compute)"
    decoder_dir = args.decoder
    if decoder_dir is None:
        from models.tiny_decoder import make_tiny_decoder

        decoder_dir = make_tiny_decoder(tmp / "tiny_decoder")
    vocoder_mod = importlib.import_module("core.voice.vocoder")
    vocoder = vocoder_mod.Vocoder.load(decoder_dir, backend=args.vocoder_backend, device=args.device)
    label = "tiny " if args.decoder is None else ""
    return runner, vocoder, f"{label}{args.vocoder_backend} decoder"


def pure_compute_s(runner, vocoder, user_audio: np.ndarray, sampling: SamplingConfig) -> tuple[float, float]:
    """Runner + vocoder alone, one thread: (wall s from reply() to the first audio chunk, s of it in the vocoder)."""
    conv = Conversation()
    conv.add_user_audio(user_audio)
    t0 = time.perf_counter()
    stream = runner.reply(conv, sampling)
    plan = PlaybackPlan()  # the engine's default: the "fast" schedule, seed 0
    vs = vocoder.open_stream(plan.schedule, torch.Generator().manual_seed(plan.seed))
    vocoder_s = 0.0
    for ev in stream:
        if isinstance(ev, SpeechUnits) and ev.units:
            t1 = time.perf_counter()
            chunks = vs.push(ev.units)
            vocoder_s += time.perf_counter() - t1
            if any(c.size for c in chunks):
                stream.cancel()
                return time.perf_counter() - t0, vocoder_s
    t1 = time.perf_counter()
    chunks = vs.flush()
    vocoder_s += time.perf_counter() - t1
    return (time.perf_counter() - t0 if any(c.size for c in chunks) else float("nan")), vocoder_s


def one_turn(eng: Engine, events: EventCollector, inject, speech: np.ndarray, n_before: int) -> tuple:
    inject(speech)
    turn = events.wait_for(lambda e: isinstance(e, UserTurnCaptured) and e.turn_id == n_before + 1, 60)
    end = events.wait_for(lambda e: isinstance(e, ReplyEnded) and e.turn_id == turn.turn_id, 300)
    while eng.state is not EngineState.LISTENING:
        time.sleep(0.05)
    time.sleep(0.5)
    eng.conversation.clear()  # every turn sees the same one-turn prompt (comparable with the baseline)
    return turn, end


def measure(turn: UserTurnCaptured, end: ReplyEnded, vad_ms_per_frame: float, pure: tuple[float, float]) -> dict:
    """Critical-path shares (they add up to dispatched -> first sample) and the overhead vs pure compute."""
    t = end.timing
    pure_s, pure_vocoder_s = pure
    ms = lambda a, b: 1000 * (b - a)
    return {
        "end_to_dispatch_ms": ms(turn.speech_end_t, turn.dispatched_t),
        "end_silence_ms": END_SILENCE_MS,
        "vad_ms_per_frame": vad_ms_per_frame,
        "dispatch_to_first_sample_ms": ms(t.dispatched_t, t.first_play_t),
        "model_ms": ms(t.dispatched_t, t.first_needed_units_t),
        "queue_ms": ms(t.first_needed_units_t, t.first_push_t),
        "vocoder_ms": ms(t.first_push_t, t.first_audio_t),
        "resample_ms": ms(t.first_audio_t, t.first_written_t),
        "buffering_ms": ms(t.first_written_t, t.first_play_t),
        "model_compute_ms": 1000 * t.model_to_first_audio_s,
        "vocoder_compute_ms": 1000 * t.vocoder_to_first_audio_s,
        "pure_compute_ms": 1000 * pure_s,
        "pure_vocoder_ms": 1000 * pure_vocoder_s,
        "overhead_ms": ms(t.dispatched_t, t.first_play_t) - 1000 * pure_s,
        "underruns": end.underruns,
    }


def run(args: argparse.Namespace) -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    runner, decoder, vocoder_label = load_models(args, tmp)
    x, rate = espeak(PHRASE, tmp)
    pulse, audio = None, None
    if args.audio == "pulse":
        pulse = start_pulse(tmp)
        import soundfile as sf

        def inject(speech):
            wav = tmp / "say.wav"
            sf.write(str(wav), speech, rate)
            pulse.play_to_mic(wav)

        speech = np.concatenate([np.zeros(rate // 4, np.float32), x])
    else:
        audio = FakeAudio()
        speech = soxr.resample(x, rate, audio.in_rate_hz).astype(np.float32)
        inject = audio.mic.inject
    sampling = SamplingConfig(seed=0, max_text_tokens=MAX_TEXT_TOKENS, max_units=MAX_UNITS)
    events = EventCollector()
    cfg = EngineConfig(
        vad=VadConfig(end_silence_ms=END_SILENCE_MS),
        audio=AudioConfig(prebuffer_ms=PREBUFFER_MS),
        first_chunk_priority=args.first_chunk_priority,
    )
    eng = Engine(runner, decoder, config=cfg, sink=events, audio=audio, sampling=sampling)
    rows = []
    try:
        eng.start()
        for i in range(args.turns):
            turn, end = one_turn(eng, events, inject, speech, i)
            vad_ms = 1000 * eng.capture_loop.vad_compute_s / max(eng.capture_loop.frames, 1)
            rows.append(measure(turn, end, vad_ms, pure_compute_s(runner, decoder, turn.samples, sampling)))
            rows[-1]["device_latency_ms"] = 1000 * eng.output_latency_s
    finally:
        eng.stop()
        if pulse is not None:
            pulse.kill()
    for r in rows:
        r["vocoder"] = vocoder_label
        r["audio"] = args.audio
        r["first_chunk_priority"] = args.first_chunk_priority
    return rows


def start_pulse(tmp: Path) -> PulseServer:
    import os

    runtime = tmp / "pulse"
    runtime.mkdir(mode=0o700)
    server = PulseServer(runtime)
    server.start()
    os.environ.update(XDG_RUNTIME_DIR=server.env["XDG_RUNTIME_DIR"], PULSE_SERVER=server.env["PULSE_SERVER"])
    return server


COLUMNS = [
    ("end_to_dispatch_ms", "end of speech -> dispatched"),
    ("end_silence_ms", "  of which end-of-turn silence (config)"),
    ("vad_ms_per_frame", "  VAD compute per 32 ms frame"),
    ("dispatch_to_first_sample_ms", "dispatched -> first reply sample played"),
    ("model_ms", "  model: until the units for the 1st chunk"),
    ("queue_ms", "  units queue -> vocoder push"),
    ("vocoder_ms", "  vocoder: push that gave the 1st chunk"),
    ("resample_ms", "  resample + into the jitter buffer"),
    ("buffering_ms", "  jitter buffer -> output callback"),
    ("model_compute_ms", "(model compute inside, until 1st chunk)"),
    ("vocoder_compute_ms", "(vocoder compute inside, until 1st chunk)"),
    ("pure_compute_ms", "pure model+vocoder to 1st audio (baseline)"),
    ("pure_vocoder_ms", "  of which vocoder"),
    ("overhead_ms", "engine overhead beyond pure compute"),
    ("device_latency_ms", "+ output latency PortAudio reports (to DAC)"),
    ("underruns", "underruns"),
]


def print_table(rows: list[dict]) -> None:
    print(
        f"audio={rows[0]['audio']}  vocoder={rows[0]['vocoder']}  turns={len(rows)}  "
        f"first_chunk_priority={rows[0]['first_chunk_priority']}"
    )
    print(f"{'metric':<46} {'median':>9} {'min':>9} {'max':>9}")
    for key, label in COLUMNS:
        vals = [r[key] for r in rows]
        print(f"{label:<46} {statistics.median(vals):>9.1f} {min(vals):>9.1f} {max(vals):>9.1f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path)
    p.add_argument("--decoder", type=Path)
    p.add_argument("--vocoder-backend", choices=("torch", "onnx"), default="torch")
    p.add_argument(
        "--no-first-chunk-priority",
        dest="first_chunk_priority",
        action="store_false",
        help="EngineConfig(first_chunk_priority=False): decode and vocode in parallel from the start",
    )
    p.add_argument("--sine-vocoder", action="store_true", help="a no-compute sine stand-in for the vocoder")
    p.add_argument("--device", default="cpu")
    p.add_argument("--audio", choices=("fake", "pulse"), default="fake")
    p.add_argument("--turns", type=int, default=5)
    p.add_argument("--json", action="store_true", help="print the per-turn rows as JSON")
    args = p.parse_args(argv)
    rows = run(args)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
