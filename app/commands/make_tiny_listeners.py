"""`make-tiny-listeners DIR`: write tiny random listener checkpoints (Whisper, wav2vec2 SER, BERT text)."""

from __future__ import annotations

import argparse
import logging

from models.listeners.tiny import SIZES, write_tiny_listeners

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("make-tiny-listeners", help="write tiny random listener checkpoints for tests")
    p.add_argument("dir", help="output directory (gets asr/, ser/, text_emotion/)")
    p.add_argument(
        "--scale", choices=sorted(SIZES), default="tiny", help="tiny (tests) or base (benchmark-size, random)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    paths = write_tiny_listeners(args.dir, scale=args.scale)
    for name, path in paths.items():
        print(f"{name}: {path}", flush=True)
    return 0
