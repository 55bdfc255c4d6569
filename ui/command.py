"""`gui` (the default command): open the window, optionally with a model to load."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)

COMMAND = "gui"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(COMMAND, help="open the window (the default when no command is given)")
    p.add_argument("--checkpoint", help="OpenS2S model directory to load at start")
    p.add_argument("--decoder", help="GLM-4-Voice decoder directory to load at start")
    p.add_argument("--demo", action="store_true", help="load the offline demo checkpoint (random weights)")
    p.add_argument("--quit-after-s", type=float, help="close the window after this many seconds (scripts)")
    p.add_argument("--send", help="type this message once the model is loaded (demos, screenshots)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ui.app_main import GuiOptions, run_gui

    opts = GuiOptions(args.checkpoint, args.decoder, args.demo, args.quit_after_s, args.send)
    return run_gui(opts)
