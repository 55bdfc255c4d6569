"""`make-tiny-decoder DIR`: write a GLM-4-Voice decoder directory with seeded random weights (tests)."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "make-tiny-decoder",
        help="write a random GLM-4-Voice decoder (config.yaml, flow.pt, hift.pt) for tests",
        description="Write config.yaml, flow.pt, hift.pt in the released layout with seeded random weights.",
    )
    p.add_argument("directory", metavar="DIR", help="output directory (created if missing)")
    p.add_argument("--seed", type=int, default=0, help="weight seed (default 0)")
    p.add_argument("--force", action="store_true", help="write into a folder that already holds files")
    p.add_argument(
        "--size",
        choices=("tiny", "real"),
        default="tiny",
        help="tiny dims (fast tests) or the released dims (flow 111 M, HiFT 20 M parameters)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.commands.make_tiny import refuse_non_empty
    from models.tiny_decoder import make_tiny_decoder

    refuse_non_empty(args.directory, args.force)
    path = make_tiny_decoder(args.directory, seed=args.seed, size=args.size)
    print(f"wrote {args.size} random decoder to {path}")
    return 0
