"""`make-data --config F --out DIR`: synthesize empathetic speech dialogues in the OpenS2S training format."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

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
    from core.files import refuse_overlap

    try:
        config = load_data_config(args.config)
        refuse_overlap(Path(args.out), {"--config": Path(args.config)})  # make_data checks the inputs it names
        summary = make_data(config, args.out, ray_address=args.ray, progress=not args.no_progress,
                            inline=args.inline)
    except KeyboardInterrupt:
        print(interrupted_line(args), file=sys.stderr, flush=True)
        return 130
    for line in summary.lines():
        print(line, flush=True)
    return 0


def interrupted_line(args: argparse.Namespace) -> str:
    """What Ctrl-C leaves: finished records (state file + WAVs) are kept; data.jsonl and manifest.json are only
    (re)written when a run completes; the same command resumes, making only the missing records."""
    from core.data.store import JSONL_NAME, Store

    store = Store(args.out)
    try:
        n_done = len(store.done_ids()) if store.records.is_dir() else 0
    except OSError:
        n_done = 0
    resume = [*_program(), "make-data", "--config", str(Path(args.config).resolve()), "--out",
              str(Path(args.out).resolve())]
    if args.ray:
        resume += ["--ray", args.ray]
    if args.inline:
        resume.append("--inline")
    if args.no_progress:
        resume.append("--no-progress")
    return (f"interrupted: {n_done} finished record(s) are saved in {store.records} (with their audio in "
            f"{store.audio}); {JSONL_NAME} is written when a run completes; resume with: {shlex.join(resume)}")


def _program() -> list[str]:
    """How this process was started: `python /abs/main.py` or the installed script (else plain main.py)."""
    first = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    if first.name == "main.py":
        return [sys.executable, str(first.resolve())]
    if first.name == "opens2s-companion":
        return [str(first)]
    return ["main.py"]
