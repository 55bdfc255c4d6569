"""Training throughput and peak memory per stage on the `small` preset (CPU fp32, or CUDA bf16 when present).

Each stage runs in its own process (peak RSS is per process): load, one warm-up step, then timed steps.
Reported: target tokens/s (LLM labels + TTS units, what the loss averages over), text tokens/s (LLM input ids),
peak memory above the loaded model, and the memory plan's prediction for the same workload
(core/training/memory.py: trainable weights + gradients + AdamW + activations).

    python bench/bench_train.py [--stages bridge full lora] [--steps 4] [--batch-size 2] [--grad-checkpointing]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def worker(args: argparse.Namespace) -> dict:
    import torch

    from core.training.config import TrainConfig
    from core.training.memory import Workload, memory_plan
    from core.training.trainer import Trainer

    torch.set_num_threads(args.threads)
    cfg = TrainConfig(checkpoint=Path(args.checkpoint), data=Path(args.data), out=Path(args.out), stage=args.worker,
                      lr=1e-4, max_steps=args.steps + 1, batch_size=args.batch_size, device=args.device,
                      grad_checkpointing=args.grad_checkpointing, progress=False)
    trainer = Trainer(cfg)
    cuda = trainer.device.type == "cuda"
    rss_loaded = _rss_bytes()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        base_cuda = torch.cuda.memory_allocated()
    trainer.train_step(0)  # warm-up (allocates gradients and optimizer state)
    text = targets = 0
    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        exs = [e for mb in trainer.step_examples(step) for e in mb]
        text += sum(e.n_tokens for e in exs)
        targets += trainer.train_step(step).tokens
    if cuda:
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    peak = (torch.cuda.max_memory_allocated() - base_cuda if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_loaded)
    exs = trainer.train_set.examples
    b = args.batch_size
    work = Workload(batch_size=b, llm_positions=max(e.n_tokens for e in exs) + 8,
                    tts_positions=max(sum(len(u) for u in e.units) + e.n_tokens for e in exs),
                    labelled_llm=max(sum(x != -100 for x in e.labels) for e in exs),
                    labelled_tts=max(sum(len(u) for u in e.units) for e in exs),
                    grad_checkpointing=args.grad_checkpointing)
    plan = memory_plan(trainer.ckpt.config, args.worker, work, frozen_bytes=2 if cuda else 4)
    predicted_above_load = plan.total_bytes - plan.weights_bytes + plan.trainable_params * 4  # masters were fp32
    return {"stage": args.worker, "device": str(trainer.device), "steps": args.steps,
            "target_tokens_per_s": targets / dt, "text_tokens_per_s": text / dt, "s_per_step": dt / args.steps,
            "peak_mib_above_load": peak / 2 ** 20, "plan_mib_above_load": predicted_above_load / 2 ** 20,
            "trainable_params": plan.trainable_params, "total_params": plan.total_params}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stages", nargs="+", default=["bridge", "full", "lora"])
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--grad-checkpointing", action="store_true")
    p.add_argument("--device", default=None, help="cpu to force the CPU")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--checkpoint", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    from models.tiny_checkpoint import TinySpec, make_tiny_checkpoint
    from testing.tiny_dataset import write_dataset

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = make_tiny_checkpoint(Path(tmp) / "small", TinySpec.small(), seed=0)
        data = write_dataset(Path(tmp) / "data", n=16, audio_every=2, durations_s=(3.0, 2.0, 4.0), n_units=60)
        print("| stage | trainable / total params | s/step | target tok/s | text tok/s | peak above load MiB "
              "| plan MiB |")
        print("|---|---|---|---|---|---|---|")
        for stage in args.stages:
            cmd = [sys.executable, __file__, "--worker", stage, "--checkpoint", str(ckpt), "--data", str(data),
                   "--out", str(Path(tmp) / f"out_{stage}"), "--steps", str(args.steps), "--batch-size",
                   str(args.batch_size), "--threads", str(args.threads)]
            cmd += ["--grad-checkpointing"] if args.grad_checkpointing else []
            cmd += ["--device", args.device] if args.device else []
            res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            if res.returncode:
                print(res.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"stage {stage} failed")
            r = json.loads(res.stdout.strip().splitlines()[-1])
            print(f"| {stage} | {r['trainable_params'] / 1e6:.2f} M / {r['total_params'] / 1e6:.1f} M "
                  f"| {r['s_per_step']:.2f} | {r['target_tokens_per_s']:.0f} | {r['text_tokens_per_s']:.0f} "
                  f"| {r['peak_mib_above_load']:.0f} | {r['plan_mib_above_load']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
