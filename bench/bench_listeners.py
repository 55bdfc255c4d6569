"""Listener latency per second of speech, and the reply's first-audio delay with vs. without busy listeners.

One run, on this machine's CPU:
  1. latency: time from `on_user_turn` to the final transcript (ASR) and to the user emotion (SER), for turns
     of several lengths, and to the assistant emotion for a reply text;
  2. first-audio delay: a fixed CPU workload standing in for the reply's compute up to its first audio
     (a small torch MLP forward loop in the calling thread), timed alternately with the listeners idle and
     right after a user turn and a reply text were handed to them (ASR + SER + text emotion busy), with
     niced and un-niced listener threads, and with the default hold (no listener work starts between
     `on_user_turn` and `on_reply_first_audio`).

Checkpoints are random-weight models of the real architectures ("base": whisper-base.en, wav2vec2-base,
a 6-layer BERT; same compute as the real ones) or the test-size ones ("tiny"). Random Whisper weights rarely
emit end-of-text, so each turn decodes its whole token budget: TOKENS_PER_S tokens per second of speech.

    python bench/bench_listeners.py [--scale base|tiny] [--ckpt-dir DIR] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.listeners import Listeners, ListenersConfig  # noqa: E402
from core.listeners.events import TurnEmotion, UserTranscript  # noqa: E402
from models.listeners.tiny import write_tiny_listeners  # noqa: E402
from models.rates import SPEECH_RATE_HZ as SAMPLE_RATE_HZ  # noqa: E402

log = logging.getLogger(__name__)

TOKENS_PER_S = 4  # English speech: ~2.5-3 words/s, ~1.3 BPE tokens per word
WAIT_S = 600.0
WORKLOAD_TARGET_MS = 300.0  # the stand-in first-audio compute, when the listeners are idle
MLP_WIDTH = 1024
MLP_BATCH = 32
CALIBRATION_ITERS = 20
WARMUP_RUNS = 3
CALIBRATION_RUNS = 5
FIRST_AUDIO_WARMUP_PAIRS = 1  # idle/busy pairs run first and not counted
# (label, listener thread nice, hold listener work from on_user_turn to on_reply_first_audio)
VARIANTS = (("nice10", 10, False), ("nice0", 0, False), ("nice10+hold", 10, True))
REPLY_TEXT = "I'm really glad you told me that. It sounds like a wonderful day, and you deserve it! " * 3


class _Timer:
    """Emit sink recording when the first matching event of each kind arrives."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.t_s: dict[str, float] = {}

    def __call__(self, event: object) -> None:
        kind = None
        if isinstance(event, UserTranscript) and event.is_final:
            kind = "asr"
        elif isinstance(event, TurnEmotion) and event.is_final:
            kind = f"{event.emotion.source}_emotion"
        if kind:
            with self._cond:
                self.t_s.setdefault(kind, time.perf_counter())
                self._cond.notify_all()

    def reset(self) -> None:
        with self._cond:
            self.t_s.clear()


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """[N] float32: noise shaped by a 4 Hz syllable envelope (content is irrelevant to random weights)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t)
    return (0.1 * envelope * rng.standard_normal(t.size)).astype(np.float32)


def _config(paths: dict[str, Path], **overrides) -> ListenersConfig:
    base = dict(
        asr_checkpoint=str(paths["asr"]),
        ser_checkpoint=str(paths["ser"]),
        text_emotion_checkpoint=str(paths["text_emotion"]),
        local_files_only=True,
        hold_until_first_audio=False,
    )
    return ListenersConfig(**{**base, **overrides})


def _start(config: ListenersConfig, sink: _Timer) -> Listeners:
    lis = Listeners(config, sink)
    if not lis.wait_ready(WAIT_S):
        raise SystemExit("listeners did not load in time")
    off = [s.describe() for s in lis.status().values() if not s.enabled and "disabled" not in s.reason]
    if off:
        raise SystemExit(f"listener checkpoint unusable: {off}")
    return lis


def measure_latency(paths: dict[str, Path], durations_s: list[float], reps: int) -> list[dict]:
    """Per duration: median ms from on_user_turn to the final transcript / user emotion."""
    rows = []
    for dur_s in durations_s:
        n_tokens = max(1, math.ceil(TOKENS_PER_S * dur_s))
        sink = _Timer()
        config = _config(paths, asr_max_new_tokens=n_tokens, text_emotion_enabled=False, worker_nice=0)
        lis = _start(config, sink)  # un-niced: measure the listeners' own cost, not other processes' load
        asr_ms, ser_ms = [], []
        for rep in range(reps):
            sink.reset()
            t0 = time.perf_counter()
            lis.on_user_turn(rep, speech_like(dur_s, seed=rep))
            lis.wait_idle(WAIT_S)
            asr_ms.append((sink.t_s["asr"] - t0) * 1e3)
            ser_ms.append((sink.t_s["user_emotion"] - t0) * 1e3)
        lis.close()
        asr, ser = statistics.median(asr_ms), statistics.median(ser_ms)
        rows.append(
            dict(speech_s=dur_s, asr_tokens=n_tokens, asr_final_ms=asr, ser_ms=ser,
                 asr_ms_per_speech_s=asr / dur_s, ser_ms_per_speech_s=ser / dur_s)
        )  # fmt: skip
    return rows


def measure_text_emotion(paths: dict[str, Path], reps: int) -> float:
    sink = _Timer()
    lis = _start(_config(paths, asr_enabled=False, ser_enabled=False, worker_nice=0), sink)
    times_ms = []
    for rep in range(reps):
        sink.reset()
        t0 = time.perf_counter()
        lis.on_assistant_text(rep, REPLY_TEXT)
        lis.on_reply_end(rep)
        lis.wait_idle(WAIT_S)
        times_ms.append((sink.t_s["assistant_emotion"] - t0) * 1e3)
    lis.close()
    return statistics.median(times_ms)


class _Workload:
    """The reply's first-audio compute stand-in: `n_iters` forwards of a 4-layer MLP, [B, W] fp32."""

    def __init__(self, threads: int) -> None:
        import torch

        torch.manual_seed(0)
        torch.set_num_threads(threads)
        layers = [torch.nn.Linear(MLP_WIDTH, MLP_WIDTH) for _ in range(4)]
        self.mlp = torch.nn.Sequential(*[m for lin in layers for m in (lin, torch.nn.GELU())]).eval()
        self.x = torch.randn(MLP_BATCH, MLP_WIDTH)
        self.n_iters = 1

    def run_ms(self) -> float:
        import torch

        t0 = time.perf_counter()
        with torch.inference_mode():
            for _ in range(self.n_iters):
                self.mlp(self.x)
        return (time.perf_counter() - t0) * 1e3

    def calibrate(self, target_ms: float) -> None:
        """Pick n_iters from the fastest of several runs (other processes only ever slow a run down)."""
        self.n_iters = CALIBRATION_ITERS
        for _ in range(WARMUP_RUNS):
            self.run_ms()
        per_iter_ms = min(self.run_ms() for _ in range(CALIBRATION_RUNS)) / CALIBRATION_ITERS
        self.n_iters = max(1, round(target_ms / per_iter_ms))


def measure_first_audio(paths: dict[str, Path], speech_s: float, reps: int, reply_threads: int) -> dict:
    """Median workload time idle vs. with ASR+SER (and text emotion) running, niced and not niced."""
    work = _Workload(reply_threads)
    work.calibrate(WORKLOAD_TARGET_MS)
    n_tokens = max(1, math.ceil(TOKENS_PER_S * speech_s))
    result = dict(workload_iters=work.n_iters, reply_threads=reply_threads, speech_s=speech_s)
    for label, nice, hold in VARIANTS:
        sink = _Timer()
        config = _config(paths, asr_max_new_tokens=n_tokens, worker_nice=nice, hold_until_first_audio=hold)
        lis = _start(config, sink)
        idle_ms, busy_ms, enqueue_ms = [], [], []
        for rep in range(-FIRST_AUDIO_WARMUP_PAIRS, reps):  # alternate idle / busy so drift hits both alike
            lis.wait_idle(WAIT_S)
            idle_ms.append(work.run_ms())
            t0 = time.perf_counter()
            lis.on_user_turn(rep, speech_like(speech_s, seed=abs(rep)))
            lis.on_assistant_text(rep, REPLY_TEXT)
            enqueue_ms.append((time.perf_counter() - t0) * 1e3)
            busy_ms.append(work.run_ms())
            lis.on_reply_first_audio(rep)
            lis.wait_idle(WAIT_S)
            if rep < 0:
                idle_ms, busy_ms, enqueue_ms = [], [], []
        lis.close()
        idle, busy = statistics.median(idle_ms), statistics.median(busy_ms)
        result[label] = dict(
            idle_ms=idle, busy_ms=busy, delay_ms=busy - idle, delay_pct=100 * (busy - idle) / idle,
            idle_min_ms=min(idle_ms), busy_min_ms=min(busy_ms),
            enqueue_max_ms=max(enqueue_ms), idle_all_ms=idle_ms, busy_all_ms=busy_ms,
        )  # fmt: skip
    return result


def _ensure_checkpoints(ckpt_dir: str | None, scale: str) -> dict[str, Path]:
    root = Path(ckpt_dir) if ckpt_dir else Path(tempfile.mkdtemp(prefix=f"listeners_{scale}_"))
    names = ("asr", "ser", "text_emotion")
    if all((root / n / "model.safetensors").is_file() for n in names):
        return {n: root / n for n in names}
    log.warning("writing %s-size random listener checkpoints to %s", scale, root)
    return write_tiny_listeners(root, scale=scale)


def _row(cells: list, widths: list[int]) -> str:
    return " ".join(
        f"{c:>{w}.0f}" if isinstance(c, float) else f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)
    )


def _print_table(report: dict) -> None:
    print(f"\nListener benchmark ({report['scale']} checkpoints, {report['cpu']})")
    print("\nlatency after the user turn ends (ASR and SER in parallel, 1 torch thread each, not niced)")
    widths = [9, 10, 13, 12, 9, 12]
    print(_row(["speech s", "ASR tokens", "ASR final ms", "ms/speech s", "SER ms", "ms/speech s"], widths))
    for r in report["latency"]:
        cells = [r["speech_s"], r["asr_tokens"], r["asr_final_ms"], r["asr_ms_per_speech_s"]]
        print(_row(cells + [r["ser_ms"], r["ser_ms_per_speech_s"]], widths))
    print(f"assistant text emotion ({len(REPLY_TEXT)} chars): {report['text_emotion_ms']:.0f} ms")
    fa = report["first_audio"]
    print(
        f"\nfirst-audio stand-in: {fa['workload_iters']} MLP forwards on {fa['reply_threads']} torch threads;"
    )
    print(f"busy = right after handing the listeners a {fa['speech_s']:.0f} s user turn and a reply text")
    print("(medians; min in brackets)")
    widths = [13, 16, 16, 9, 8, 15]
    print(_row(["listeners", "idle ms", "busy ms", "delay ms", "delay %", "enqueue max ms"], widths))
    for label, _, _ in VARIANTS:
        r = fa[label]
        idle, busy = (
            f"{r['idle_ms']:.0f} ({r['idle_min_ms']:.0f})",
            f"{r['busy_ms']:.0f} ({r['busy_min_ms']:.0f})",
        )
        cells = [label, idle, busy, r["delay_ms"], f"{r['delay_pct']:.1f}"]
        print(_row(cells + [f"{r['enqueue_max_ms']:.2f}"], widths))
    print(f"load average at the end: {report['load_end']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=("base", "tiny"), default="base")
    parser.add_argument("--ckpt-dir", default=None, help="reuse/write checkpoints here (default: a temp dir)")
    parser.add_argument("--durations", default="2,5,10", help="user turn lengths in seconds")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--first-audio-reps", type=int, default=9)
    parser.add_argument("--reply-threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    paths = _ensure_checkpoints(args.ckpt_dir, args.scale)
    durations_s = [float(d) for d in args.durations.split(",")]
    report = dict(
        scale=args.scale,
        cpu=f"{os.cpu_count()} cores, load avg {os.getloadavg()[0]:.2f} at start",
        latency=measure_latency(paths, durations_s, args.repeats),
        text_emotion_ms=measure_text_emotion(paths, args.repeats),
        first_audio=measure_first_audio(
            paths, durations_s[len(durations_s) // 2], args.first_audio_reps, args.reply_threads
        ),
    )
    report["load_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if args.json:
        print(json.dumps(report, indent=1, default=lambda o: dataclasses.asdict(o)))
    else:
        _print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
