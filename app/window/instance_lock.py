"""One window per data dir: an exclusive `flock` on `<data dir>/instance.lock`, held for the life of the process.

Two windows on one data dir would write one journal and race writing the demo model. The lock dies with its
process (`flock` is released when the last descriptor closes, a crash or `kill -9` included), so a stale lock
file never blocks the next start; the file keeps the holder's pid only to name it in the message. The descriptor
is not inherited by child processes. Where `fcntl` is missing (Windows) there is no lock (logged).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from models.errors import UserError

log = logging.getLogger(__name__)

LOCK_NAME = "instance.lock"
_held: dict[Path, int] = {}  # data dir -> the locked descriptor (never closed: the lock lasts as long as we do)


class AlreadyRunning(UserError):
    """Another process holds the data dir's lock; the message is the one line to show."""


def hold_instance_lock(data_root: Path) -> None:
    """Take the lock on `data_root` for this process (idempotent). Raises AlreadyRunning, or OSError when the
    data dir cannot be created or written."""
    try:
        import fcntl
    except ImportError:  # not a POSIX system: run unlocked
        log.info("no instance lock on this platform")
        return
    root = Path(data_root).resolve()
    if root in _held:
        return
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # non-inheritable (PEP 446)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_pid(fd)
        os.close(fd)
        who = f" (process {holder})" if holder else ""
        raise AlreadyRunning(
            f"OpenS2S Companion is already running with the data folder {root}{who}; switch to that window, or "
            f"set OPENS2S_COMPANION_DATA_DIR to another folder to run a second one") from None
    except OSError:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held[root] = fd
    log.info("instance lock held on %s", path)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
