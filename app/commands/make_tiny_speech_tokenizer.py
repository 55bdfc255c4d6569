"""`make-tiny-speech-tokenizer DIR`: write a GLM-4-Voice speech tokenizer with seeded random weights (tests)."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "make-tiny-speech-tokenizer",
        help="write a random GLM-4-Voice speech tokenizer (config.json, model.safetensors, ...) for tests",
        description="Write config.json, model.safetensors and preprocessor_config.json in the released "
        "THUDM/glm-4-voice-tokenizer layout with seeded random weights.",
    )
    p.add_argument("directory", metavar="DIR", help="output directory (created if missing)")
    p.add_argument("--seed", type=int, default=0, help="weight seed (default 0)")
    p.add_argument(
        "--size",
        choices=("tiny", "released"),
        default="tiny",
        help="tiny dims (fast tests) or the released dims (16 layers of 1280, 1.46 GB)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from models.tiny_speech_tokenizer import write_tiny_speech_tokenizer

    path = write_tiny_speech_tokenizer(args.directory, seed=args.seed, size=args.size)
    print(f"wrote {args.size} random speech tokenizer to {path}")
    return 0
