"""Runner benchmark: decode steps/s per LM, time to first unit, and the cached single-step loop vs. the reference's
`generate()`-per-span approach — same checkpoint, same prompt, same (greedy) tokens, one run.

    python bench/bench_runner.py [--checkpoint DIR | --size tiny|small] [--max-text-tokens 64] [--max-units 128]
                                 [--json F]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.reference_baseline import generate_per_span  # noqa: E402
from core.lm.conversation import Conversation  # noqa: E402
from core.lm.events import SpeechUnits, TextDelta  # noqa: E402
from core.lm.runner import OpenS2SRunner  # noqa: E402
from core.lm.sampling import SamplingConfig  # noqa: E402
from models.tiny_checkpoint import TinySpec, make_tiny_checkpoint  # noqa: E402
from testing.synthetic import synthetic_clip  # noqa: E402


def run_cached(runner: OpenS2SRunner, conv: Conversation, max_text: int, max_units: int) -> dict:
    step_s = {"llm": 0.0, "tts": 0.0}
    counts = {"llm": 0, "tts": 0}
    last = [time.perf_counter()]

    def sink(lm: str, _logits) -> None:  # called right after each forward step
        now = time.perf_counter()
        step_s[lm] += now - last[0]
        counts[lm] += 1
        last[0] = now

    stream = runner.reply(conv, SamplingConfig(greedy=True, max_text_tokens=max_text, max_units=max_units),
                          logits_sink=sink)
    text, tts, first_unit_s = [], [], None
    t0 = time.perf_counter()
    for ev in stream:
        if isinstance(ev, TextDelta):
            text += ev.token_ids
        elif isinstance(ev, SpeechUnits):
            tts += ev.token_ids
            if first_unit_s is None:
                first_unit_s = time.perf_counter() - t0
        last[0] = time.perf_counter()
    total_s = time.perf_counter() - t0
    return {"text": text, "tts": tts, "first_unit_s": first_unit_s, "total_s": total_s,
            "llm_steps_per_s": counts["llm"] / max(step_s["llm"], 1e-9),
            "tts_steps_per_s": counts["tts"] / max(step_s["tts"], 1e-9), "stream": stream}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint")
    ap.add_argument("--size", choices=("tiny", "small"), default="small")
    ap.add_argument("--max-text-tokens", type=int, default=48)
    ap.add_argument("--max-units", type=int, default=96)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="alternating runs of each path; medians are reported")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.checkpoint or make_tiny_checkpoint(
            Path(tmp) / "ckpt", TinySpec.small() if args.size == "small" else TinySpec())
        # single-turn comparison: no prompt-cache reuse between the repeated identical turns (multi-turn reuse is
        # measured by bench/suite.py)
        runner = OpenS2SRunner.load(ckpt, device=args.device, reuse_prefix=False)
        conv = Conversation()
        conv.add_user_audio(synthetic_clip(3.0))
        run_cached(runner, conv, 4, 8)  # warm-up
        cached_runs, base_runs = [], []
        for _ in range(args.repeats):  # alternate, so that load on the machine hits both alike
            cached_runs.append(run_cached(runner, conv, args.max_text_tokens, args.max_units))
            t0 = time.perf_counter()
            prompt = cached_runs[-1]["stream"].prompt_embeds()  # the baseline builds its prompt too
            t_prompt = time.perf_counter() - t0
            base = generate_per_span(runner, prompt, args.max_text_tokens, args.max_units)
            base_runs.append((base, time.perf_counter() - t0, t_prompt + base.first_unit_s))
    cached = sorted(cached_runs, key=lambda r: r["total_s"])[len(cached_runs) // 2]
    base, base_total, _ = sorted(base_runs, key=lambda r: r[1])[len(base_runs) // 2]
    cached["first_unit_s"] = statistics.median(r["first_unit_s"] for r in cached_runs)
    base_first = statistics.median(r[2] for r in base_runs)
    same = all(b.text_ids == c["text"] and b.tts_ids == c["tts"]
               for (b, _, _), c in zip(base_runs, cached_runs, strict=True))
    figures = {
        "checkpoint": str(args.checkpoint or f"random {args.size}"), "device": args.device,
        "text_tokens": len(cached["text"]), "tts_tokens": len(cached["tts"]), "same_tokens": same,
        "llm_steps_per_s": round(cached["llm_steps_per_s"], 1), "tts_steps_per_s": round(cached["tts_steps_per_s"], 1),
        "first_unit_ms": round(1000 * cached["first_unit_s"], 1), "total_ms": round(1000 * cached["total_s"], 1),
        "baseline_first_unit_ms": round(1000 * base_first, 1), "baseline_total_ms": round(1000 * base_total, 1),
        "speedup_total": round(base_total / cached["total_s"], 2),
        "speedup_first_unit": round(base_first / cached["first_unit_s"], 2), "repeats": args.repeats,
    }
    width = max(map(len, figures))
    for k, v in figures.items():
        print(f"{k:<{width}}  {v}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
