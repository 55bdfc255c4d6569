"""Where the app's log goes, and the one line a user sees for a failure nobody foresaw.

Every run appends INFO and above (DEBUG with -vv) to `<user log dir>/companion.log` (platformdirs; the
`OPENS2S_COMPANION_LOG_DIR` environment variable moves it), so an unexpected error can be reported in one line
that names the file holding its traceback.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from datetime import datetime
from pathlib import Path
from typing import TextIO

LOG_DIR_ENV = "OPENS2S_COMPANION_LOG_DIR"
LOG_FILE = "companion.log"
ROTATE_AT_BYTES = 5 * 1024 * 1024  # at start: a larger log is kept as companion.log.1 and a new one begun
FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
TERMINAL_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# `log.warning(..., exc_info=True, extra=BRIEF_ON_TERMINAL)`: an expected failure (offline, a server gone) is one
# line on the terminal; its traceback goes to the log file only
BRIEF_ON_TERMINAL = {"brief_on_terminal": True}


class TerminalFormatter(logging.Formatter):
    """The terminal's format; a record marked BRIEF_ON_TERMINAL is shown without its traceback."""

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "brief_on_terminal", False) and (record.exc_info or record.exc_text):
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        return super().format(record)


def terminal_handler(stream: TextIO, verbosity: int) -> logging.Handler:
    """WARNING and above (INFO with -v, DEBUG with -vv) on `stream`, in TERMINAL_FORMAT."""
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.WARNING - 10 * min(verbosity, 2))
    handler.setFormatter(TerminalFormatter(TERMINAL_FORMAT))
    return handler


def log_path() -> Path:
    from platformdirs import user_log_dir

    from app.settings import APP_NAME

    return Path(os.environ.get(LOG_DIR_ENV) or user_log_dir(APP_NAME)) / LOG_FILE


def _file_handler(level: int) -> logging.Handler | None:
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file() and path.stat().st_size > ROTATE_AT_BYTES:
            os.replace(path, path.with_name(LOG_FILE + ".1"))
        handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    except OSError:  # a read-only home: the terminal still gets everything
        return None
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(FORMAT))
    return handler


def terminal_stream() -> TextIO:
    """Where the terminal log goes: a private duplicate of file descriptor 2 when sys.stderr is that descriptor.

    Libraries point fd 2 elsewhere for a moment: `import sounddevice` sends it to /dev/null while PortAudio
    probes the devices (0.1 s, seconds under load). Log lines that other threads wrote meanwhile were lost from
    the terminal (a listener's "ready"); a duplicate keeps pointing at the real stderr."""
    try:
        if sys.stderr.fileno() != 2:
            return sys.stderr
        fd = os.dup(2)
    except (AttributeError, OSError, ValueError):  # a replaced sys.stderr (StringIO: UnsupportedOperation)
        return sys.stderr
    return open(fd, "w", encoding=sys.stderr.encoding, errors="backslashreplace", buffering=1)  # noqa: SIM115


def configure_logging(verbosity: int) -> None:
    """Terminal: WARNING (INFO with -v, DEBUG with -vv). Log file: INFO, or DEBUG with -vv."""
    terminal = terminal_handler(terminal_stream(), verbosity)
    handlers = [terminal]
    file_handler = _file_handler(logging.DEBUG if verbosity >= 2 else logging.INFO)
    if file_handler is not None:
        handlers.append(file_handler)
    logging.basicConfig(level=min(h.level for h in handlers), handlers=handlers)


def no_library_progress_bars() -> None:
    """transformers draws a bar on stderr for every model it loads ("Loading weights") or saves ("Writing model
    shards"); beside the transcript and the log they are noise (and written without the log's lock). The window and
    `converse` show what they load themselves. Downloads keep their own progress (app/hub.py)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def record_crash(err: BaseException, command: str) -> Path | None:
    """Append `err`'s traceback to the log file; returns the file, or None when it cannot be written."""
    path = log_path()
    text = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{datetime.now().isoformat(timespec='seconds')} {os.getpid()} CRASH in {command}:\n{text}\n")
    except OSError:
        return None
    return path
