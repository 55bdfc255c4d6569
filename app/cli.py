"""Command-line front end: one sub-command module per capability under `app/commands/`.

Each command module exposes `register(subparsers)`, which adds its parser and sets `func=run(args) -> int`.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import sys

from models.errors import UserError

log = logging.getLogger(__name__)

# Sub-command modules, in the order `--help` lists them.
COMMAND_MODULES = (
    "app.commands.reply",
    "app.commands.make_tiny",
    "app.commands.vocode",
    "app.commands.make_tiny_decoder",
    "app.commands.listen",
    "app.commands.make_tiny_listeners",
    "app.commands.converse",
    "app.commands.devices",
    "app.commands.turns",
    "app.commands.units",
    "app.commands.make_tiny_speech_tokenizer",
    "app.commands.make_data",
    "app.commands.loss",
    "app.commands.train",
)
DEFAULT_COMMAND = "gui"
TOP_LEVEL_FLAGS = ("-v", "-vv", "-vvv", "--verbose")


def build_parser(extra_modules: tuple[str, ...] = ()) -> argparse.ArgumentParser:
    """The parser for COMMAND_MODULES plus `extra_modules` (main.py adds the window's)."""
    parser = argparse.ArgumentParser(
        prog="opens2s-companion",
        description="OpenS2S Companion: a local voice companion. With no command, opens the window.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in (*COMMAND_MODULES, *extra_modules):
        importlib.import_module(name).register(sub)
    parser.set_defaults(command_names=frozenset(sub.choices))
    return parser


def hoist_verbosity(argv: list[str]) -> list[str]:
    """`argv` with every -v/-vv/--verbose moved to the front, so `main.py --demo -v` works like `-v --demo`.

    No command uses -v for anything else; arguments after a bare `--` are left alone."""
    stop = argv.index("--") if "--" in argv else len(argv)
    flags = [a for a in argv[:stop] if a in TOP_LEVEL_FLAGS]
    rest = [a for a in argv[:stop] if a not in TOP_LEVEL_FLAGS]
    return [*flags, *rest, *argv[stop:]]


def with_default_command(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """`argv` with DEFAULT_COMMAND inserted when no sub-command is named (`main.py --checkpoint X` opens the GUI)."""
    names = parser.get_default("command_names")
    if names is None:  # a parser not made by build_parser (e.g. a test's, from a few command modules)
        return argv
    argv = hoist_verbosity(argv)
    lead = 0
    while lead < len(argv) and argv[lead] in TOP_LEVEL_FLAGS:
        lead += 1
    rest = argv[lead:]
    if rest and (rest[0] in names or rest[0] in ("-h", "--help")):
        return argv
    return [*argv[:lead], DEFAULT_COMMAND, *rest]


def run_cli(argv: list[str] | None, parser: argparse.ArgumentParser) -> int:
    argv = with_default_command(sys.argv[1:] if argv is None else list(argv), parser)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    if getattr(args, "uses_models", True):  # (importing torch is slow: `devices` does without)
        from core.compute import configure_cpu_threads, tune_malloc

        configure_cpu_threads()  # cores - 1 unless OMP_NUM_THREADS says otherwise
        tune_malloc()  # memory stays flat in a long session (docs/reliability.md, "Long sessions")
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        log.debug("user error", exc_info=True)
        return _say(str(err), 2)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly, as other CLI tools do
        sys.stderr.close()
        return 141
    except MemoryError:
        return _say("not enough memory for this; close other programs or use a smaller input or model", 2)
    except OSError as err:  # the environment, not a bug: a full disk, a permission, a vanished folder
        log.debug("OS error", exc_info=True)
        return _say(_os_error_line(err), 2)
    except Exception as err:  # the last line of defence: one line, the traceback in the log file
        return _unexpected(err, args.command)


def _say(line: str, code: int) -> int:
    print("error: " + " ".join(line.split()), file=sys.stderr, flush=True)
    return code


def _os_error_line(err: OSError) -> str:
    writing = f" (writing {err.filename})" if err.filename else ""
    if err.errno == errno.ENOSPC:
        return f"the disk is full{writing}; free some space and run again"
    if err.errno == errno.EFBIG:
        return f"the file grew past the size this disk or a limit allows{writing} (ulimit -f)"
    where = f": {err.filename}" if err.filename else ""
    return f"{err.strerror or type(err).__name__}{where}"


def _unexpected(err: Exception, command: str) -> int:
    from app.logs import record_crash

    path = record_crash(err, command)
    where = f"the details are in {path}" if path else "run again with -vv for the details"
    summary = " ".join(str(err).split())[:200]
    return _say(f"unexpected {type(err).__name__} in '{command}' ({summary}); this is a bug: {where}", 1)
