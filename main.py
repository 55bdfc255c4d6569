"""OpenS2S Companion entry point: the window by default, sub-commands for headless use."""

from __future__ import annotations

import logging
import sys

# third-party loggers that warn at import time about optional pieces the app does not use (torchao, which
# transformers imports when installed: CUDA extensions it cannot load, no triton; torch: an Enum registration)
QUIET_AT_IMPORT = ("torchao", "torch.utils._pytree")


def _quiet_import_warnings() -> None:
    for name in QUIET_AT_IMPORT:
        logging.getLogger(name).setLevel(logging.ERROR)


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING - 10 * min(verbosity, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    _quiet_import_warnings()
    from app.cli import build_parser, run_cli, with_default_command

    parser = build_parser()
    argv = with_default_command(sys.argv[1:] if argv is None else list(argv), parser)
    known, _ = parser.parse_known_args(argv)
    _configure_logging(known.verbose)
    return run_cli(argv, parser)


if __name__ == "__main__":
    sys.exit(main())
