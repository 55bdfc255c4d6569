"""OpenS2S Companion entry point: the window by default, sub-commands for headless use."""

from __future__ import annotations

import faulthandler
import signal
import sys

# The window's command lives in ui/ (ui -> app, never back), so the entry point adds it to app's commands.
GUI_COMMAND_MODULE = "ui.command"


def _stack_dumps_on_sigusr1() -> None:
    """`kill -USR1 PID` writes every thread's Python stack to stderr (a hung app can say where it hangs)."""
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, all_threads=True)


def main(argv: list[str] | None = None) -> int:
    _stack_dumps_on_sigusr1()
    from app.quiet_audio import quiet_process

    quiet_process()
    from app.cli import build_parser, run_cli, with_default_command
    from app.logs import configure_logging

    parser = build_parser((GUI_COMMAND_MODULE,))
    argv = with_default_command(sys.argv[1:] if argv is None else list(argv), parser)
    known, _ = parser.parse_known_args(argv)
    configure_logging(known.verbose)
    return run_cli(argv, parser)


if __name__ == "__main__":
    sys.exit(main())
