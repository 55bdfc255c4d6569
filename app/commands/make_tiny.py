"""`make-tiny-checkpoint`: a seeded random OpenS2S checkpoint in the released layout (it speaks gibberish)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from models.errors import UserError
from models.tiny_checkpoint import TinySpec, make_tiny_checkpoint


def refuse_non_empty(directory: str | Path, force: bool) -> None:
    """UserError when `directory` already holds files (a real checkpoint would be overwritten), unless `force`."""
    out = Path(directory)
    if force or not out.exists():
        return
    if not out.is_dir():
        raise UserError(f"{out} is a file, not a folder; pick an empty folder.")
    present = sorted(p.name for p in out.iterdir())
    if present:
        shown = ", ".join(present[:4]) + (", ..." if len(present) > 4 else "")
        raise UserError(f"{out} is not empty ({shown}); pick an empty folder, or pass --force to overwrite it.")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("make-tiny-checkpoint",
                       help="write a tiny random-weight OpenS2S checkpoint (for tests and offline demos)")
    p.add_argument("dir", help="output directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--interleave", default="1:2", help="text_span:speech_span written to config.json")
    p.add_argument("--size", choices=("tiny", "small"), default="tiny",
                   help="tiny: seconds to make and run; small: realistic shape ratios, still fits 2 CPU cores")
    p.add_argument("--shards", type=int, default=2, help="1 = a single model.safetensors")
    p.add_argument("--force", action="store_true", help="write into a folder that already holds files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    refuse_non_empty(args.dir, args.force)
    base = TinySpec.small() if args.size == "small" else TinySpec()
    spec = dataclasses.replace(base, interleave_strategy=args.interleave)
    out = make_tiny_checkpoint(args.dir, spec, seed=args.seed, shards=args.shards)
    print(f"wrote a {args.size} random OpenS2S checkpoint to {out}. Random weights speak gibberish: "
          "use it to try the app offline, not to judge the model.")
    return 0
