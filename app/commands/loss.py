"""`loss`: the training loss of a checkpoint on a jsonl, per batch in file order (eval mode, no gradients)."""

from __future__ import annotations

import argparse
import json
import logging

from core.compute import resolve_device, resolve_dtype
from core.training.setup import eval_losses, load_training_set
from models.checkpoint import load_checkpoint
from models.errors import UserError

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("loss", help="training loss (loss, llm_loss, tts_loss) of a checkpoint on an OpenS2S jsonl")
    p.add_argument("--checkpoint", required=True, help="OpenS2S checkpoint directory")
    p.add_argument("--data", required=True, help="OpenS2S training jsonl (audio paths relative to it)")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda if available)")
    p.add_argument("--dtype", default=None, help="float32 | bfloat16 (default: bf16 on CUDA, else fp32)")
    p.add_argument("--json", action="store_true", help="one JSON object per batch on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    ckpt = load_checkpoint(args.checkpoint, device, dtype)
    data = load_training_set(ckpt, args.data)
    total = n = 0
    for i, row in enumerate(eval_losses(ckpt, data.examples, args.batch_size, device, dtype)):
        if args.json:
            print(json.dumps({"batch": i, **row}), flush=True)
        else:
            print(f"batch {i} (lines {','.join(map(str, row['lines']))}): loss {row['loss']:.6f} "
                  f"llm {row['llm_loss']:.6f} tts {row['tts_loss']:.6f}")
        total, n = total + row["loss"], n + 1
    if not args.json:
        print(f"{n} batch(es), mean loss {total / n:.6f}; skipped {data.n_skipped} example(s)")
    return 0
