"""Low-VRAM weights benchmark: full precision vs `--weights int8` (and bf16 as the precision yardstick), measured in
one run on one checkpoint, plus the computed GPU memory of the released 8B-shaped model per option.

Measured per option (same checkpoint, same text prompt, greedy, alternating repeats, medians):
  weight bytes (LM blocks, whole model), load time, LLM / TTS-LM decode tokens/s, first-step logits max|diff| vs
  full precision (absolute and relative to the largest logit), greedy text / unit agreement with full precision
  (common prefix). Ratios are against `full` of the same run.
Computed (bench/lowvram_estimate.py): weights + KV cache + vocoder + an assumed CUDA allowance, vs a VRAM budget.

    python bench/bench_lowvram.py [--size tiny|small | --checkpoint DIR] [--device cpu|cuda] [--repeats 3]
        [--max-text-tokens 24] [--max-units 48] [--config DIR] [--budget-gib 16] [--json F]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lowvram_estimate import GIB, estimate_table, released_config  # noqa: E402
from core.lm.conversation import Conversation  # noqa: E402
from core.lm.events import SpeechUnits, TextDelta  # noqa: E402
from core.lm.runner import OpenS2SRunner  # noqa: E402
from core.lm.sampling import SamplingConfig  # noqa: E402
from models.config import OpenS2SConfig  # noqa: E402
from models.quantize import storage_bytes  # noqa: E402
from models.tiny_checkpoint import TinySpec, make_tiny_checkpoint  # noqa: E402
from models.weights import WeightsOption  # noqa: E402

log = logging.getLogger(__name__)

PROMPT = "Tell me something nice about the weather today, please."
# (label, dtype, weights option): `full` is the reference every ratio is taken against
CPU_OPTIONS = (("full", None, WeightsOption()), ("bf16", "bfloat16", WeightsOption()),
               ("int8", None, WeightsOption("int8")), ("int8 (LLM only)", None, WeightsOption("int8", False)),
               ("int8 + bf16", "bfloat16", WeightsOption("int8")))
CUDA_OPTIONS = (("full", None, WeightsOption()), ("int8", None, WeightsOption("int8")),
                ("int4", None, WeightsOption("int4")))


def _load(ckpt: Path, device: str, dtype: str | None, weights: WeightsOption) -> tuple[OpenS2SRunner, float, int]:
    """(runner, load seconds, peak CUDA bytes during the load or 0 on CPU)."""
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    runner = OpenS2SRunner.load(ckpt, device=device, dtype=dtype, weights=weights)
    if cuda:
        torch.cuda.synchronize()
    return runner, time.perf_counter() - t0, torch.cuda.max_memory_allocated() if cuda else 0


def _reply(runner: OpenS2SRunner, max_text: int, max_units: int) -> dict:
    """One greedy reply: tokens, first-step logits of each LM, decode steps/s per LM (first steps = prefill
    excluded)."""
    conv = Conversation()
    conv.add_user_text(PROMPT)
    first: dict[str, torch.Tensor] = {}
    step_s, counts, last = {"llm": 0.0, "tts": 0.0}, {"llm": 0, "tts": 0}, [0.0]

    def sink(lm: str, logits: torch.Tensor) -> None:
        now = time.perf_counter()
        if lm not in first:
            first[lm] = logits.float().cpu().clone()  # prefill step: not a decode step
        else:
            step_s[lm] += now - last[0]
            counts[lm] += 1
        last[0] = now

    stream = runner.reply(conv, SamplingConfig(greedy=True, max_text_tokens=max_text, max_units=max_units),
                          logits_sink=sink)
    text, units = [], []
    last[0] = time.perf_counter()
    for ev in stream:
        if isinstance(ev, TextDelta):
            text += ev.token_ids
        elif isinstance(ev, SpeechUnits):
            units += ev.token_ids
        last[0] = time.perf_counter()  # time spent by the consumer is not a decode step
    return {"text": text, "units": units, "first": first,
            "llm_tps": counts["llm"] / max(step_s["llm"], 1e-9), "tts_tps": counts["tts"] / max(step_s["tts"], 1e-9)}


def _prefix(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def measure(ckpt: Path, device: str, repeats: int, max_text: int, max_units: int) -> list[dict]:
    options = CUDA_OPTIONS if device.startswith("cuda") else CPU_OPTIONS
    rows = {}
    for label, dtype, weights in options:
        loads = [_load(ckpt, device, dtype, weights) for _ in range(repeats)]
        runner = loads[-1][0]
        model = runner.model
        rows[label] = {"weights": label, "runner": runner, "load_s": statistics.median(x[1] for x in loads),
                       "load_peak_bytes": max(x[2] for x in loads),
                       "block_bytes": sum(storage_bytes(getattr(model, lm).model.layers)
                                          for lm in ("llm_model", "tts_lm_model")),
                       "model_bytes": storage_bytes(model), "llm_tps": [], "tts_tps": []}
        del loads
        _reply(runner, 4, 4)  # warm-up
    for _ in range(repeats):  # alternate options so that machine noise hits all alike
        for row in rows.values():
            out = _reply(row["runner"], max_text, max_units)
            row["llm_tps"].append(out["llm_tps"])
            row["tts_tps"].append(out["tts_tps"])
            row["out"] = out
    ref = rows["full"]["out"]
    result = []
    for row in rows.values():
        out = row.pop("out")
        row.pop("runner")
        row["llm_tps"], row["tts_tps"] = statistics.median(row["llm_tps"]), statistics.median(row["tts_tps"])
        for lm in ("llm", "tts"):
            diff = (out["first"][lm] - ref["first"][lm]).abs().max().item()
            row[f"{lm}_logit_diff"] = diff
            row[f"{lm}_logit_rel"] = diff / ref["first"][lm].abs().max().item()
        row["text_prefix"] = f"{_prefix(ref['text'], out['text'])}/{len(ref['text'])}"
        row["unit_prefix"] = f"{_prefix(ref['units'], out['units'])}/{len(ref['units'])}"
        result.append(row)
    return result


def _print_measured(rows: list[dict], what: str) -> None:
    full = rows[0]
    print(f"\nMEASURED: {what}; ratios vs `full` of this run")
    print("| weights | LM-block bytes | ratio | whole model bytes | ratio | load (s) | load peak CUDA (MB) | "
          "LLM tok/s | ratio | TTS tok/s | ratio | 1st-step logits max|diff| LLM / TTS (rel.) | greedy text prefix | "
          "unit prefix |")
    print("|---" * 15 + "|")
    for r in rows:
        peak = f"{r['load_peak_bytes'] / 2**20:.0f}" if r["load_peak_bytes"] else "-"
        print(f"| {r['weights']} | {r['block_bytes'] / 2**20:.1f} MB | {r['block_bytes'] / full['block_bytes']:.2f} "
              f"| {r['model_bytes'] / 2**20:.1f} MB | {r['model_bytes'] / full['model_bytes']:.2f} | {r['load_s']:.2f} "
              f"| {peak} | {r['llm_tps']:.0f} | {r['llm_tps'] / full['llm_tps']:.2f} | {r['tts_tps']:.0f} | "
              f"{r['tts_tps'] / full['tts_tps']:.2f} | {r['llm_logit_diff']:.3f} / {r['tts_logit_diff']:.3f} "
              f"({r['llm_logit_rel']:.3f} / {r['tts_logit_rel']:.3f}) | {r['text_prefix']} | {r['unit_prefix']} |")


def _print_computed(rows: list[dict], what: str, budget: float) -> None:
    print(f"\nCOMPUTED (not measured): {what}; budget {budget:g} GiB")
    print("| weights | weights (GiB) | KV cache (GiB) | vocoder (GiB) | CUDA context etc. (GiB, assumed) | total (GiB) "
          f"| fits {budget:g} GiB |")
    print("|---" * 7 + "|")
    for r in rows:
        print(f"| {r['weights']} | {r['weights_gib']:.2f} | {r['kv_gib']:.2f} | {r['vocoder_gib']:.2f} | "
              f"{r['overhead_gib']:.2f} | {r['total_gib']:.2f} | {'yes' if r['fits'] else 'no'} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", help="an OpenS2S checkpoint directory (default: a random one of --size)")
    ap.add_argument("--size", choices=("tiny", "small"), default="small")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-text-tokens", type=int, default=24)
    ap.add_argument("--max-units", type=int, default=48)
    ap.add_argument("--config", help="estimate from this checkpoint's config.json instead of the 8B-shaped one")
    ap.add_argument("--llm-positions", type=int, default=4096, help="LLM KV-cache positions for the estimate")
    ap.add_argument("--tts-positions", type=int, default=1536, help="TTS-LM KV-cache positions for the estimate")
    ap.add_argument("--budget-gib", type=float, default=16.0)
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(args.checkpoint) if args.checkpoint else make_tiny_checkpoint(
            Path(tmp) / "ckpt", TinySpec.small() if args.size == "small" else TinySpec(), seed=0)
        measured = measure(ckpt, args.device, args.repeats, args.max_text_tokens, args.max_units)
    what = (f"{args.checkpoint or args.size + ' preset (random weights)'}, {args.device}, {args.threads} threads, "
            f"{args.max_text_tokens} text tokens / {args.max_units} units, median of {args.repeats}")
    _print_measured(measured, what)
    config = OpenS2SConfig.from_dir(Path(args.config)) if args.config else released_config()
    computed = estimate_table(config, args.llm_positions, args.tts_positions, args.budget_gib)
    cwhat = (args.config or "released shape: Qwen3-8B LLM, Whisper-large-v3 encoder, TTS LM ASSUMED Qwen3-1.7B-shaped")
    _print_computed(computed, f"{cwhat}, bf16 compute, KV for {args.llm_positions} LLM + {args.tts_positions} TTS "
                              "positions", args.budget_gib)
    if args.json:
        Path(args.json).write_text(json.dumps({"measured": measured, "computed": computed, "gib": GIB}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
