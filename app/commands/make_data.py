"""`make-data --config F --out DIR`: synthesize empathetic speech dialogues in the OpenS2S training format."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "make-data", help="synthesize empathetic speech dialogues (LLM + TTS + units) as OpenS2S training jsonl"
    )
    p.add_argument("--config", required=True, help="YAML/JSON settings (see docs/data.md)")
    p.add_argument("--out", required=True, help="output folder (data.jsonl, audio/, manifest.json); resumable")
    p.add_argument("--ray", default=None, metavar="ADDRESS", help="a Ray cluster address (default: local Ray)")
    p.add_argument("--inline", action="store_true", help="run the stages in this process, without Ray (debugging)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.data.config import load_data_config
    from core.data.pipeline import make_data

    config = load_data_config(args.config)
    summary = make_data(config, args.out, ray_address=args.ray, progress=not args.no_progress,
                        inline=args.inline)
    for line in summary.lines():
        print(line, flush=True)
    return 0
