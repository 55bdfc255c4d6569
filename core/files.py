"""The write rule every command follows: never delete or overwrite an input; write beside, then rename into place.

- `refuse_overlap(out, inputs)`: an output that is, contains or lies inside an input is refused with one line.
- `atomic_file(path)`: write to a temporary sibling, fsync, rename over `path` only once complete; on any error
  the temporary file is removed and `path` is untouched (a full disk leaves the previous file as it was).
- `note_nonempty(path)`: the one-line warning before a command reuses a non-empty output folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

from models.errors import UserError

log = logging.getLogger(__name__)

TMP_MARK = ".tmp-"  # temporary siblings are named `.<name>.tmp-<pid>`; a crash may leave one, never a half file


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(os.path.expanduser(path)))


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def refuse_overlap(out: Path, inputs: Mapping[str, Path | None], out_flag: str = "--out") -> None:
    """Raise UserError when `out` is, contains or lies inside one of `inputs` ({flag: path}; None entries ignored).

    Symlinks are resolved, so a link to the input counts as the input."""
    target = _resolved(Path(out))
    for flag, given in inputs.items():
        if given is None:
            continue
        source = _resolved(Path(given))
        if target == source:
            raise UserError(f"{out_flag} {out} is the same as {flag} {given}; choose another output (inputs are "
                            "never overwritten)")
        if _within(target, source):
            raise UserError(f"{out_flag} {out} lies inside {flag} {given}; choose an output outside the input")
        if _within(source, target):
            raise UserError(f"{out_flag} {out} contains {flag} {given}; choose an output that does not hold "
                            "an input")


def temporary_sibling(path: Path) -> Path:
    path = Path(path)
    return path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (best effort: some filesystems refuse to open a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """`with atomic_file(p) as f: f.write(...)`: `p` appears complete or not at all.

    The folder must exist (a missing one is a UserError naming it); a directory at `path` is refused."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a folder; give a file name to write")
    if not path.parent.is_dir():
        raise UserError(f"cannot write {path}: the folder {path.parent} does not exist")
    tmp = temporary_sibling(path)
    try:
        with open(tmp, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_file(path, "w", encoding="utf-8") as f:
        f.write(text)


def note_nonempty(folder: Path, what: str = "output folder") -> bool:
    """Log (warning) and return True when `folder` exists and holds files; the caller says what it will reuse."""
    folder = Path(folder)
    if folder.is_dir() and any(folder.iterdir()):
        log.warning("the %s %s is not empty; files this run writes are replaced, others are kept", what, folder)
        return True
    return False


class UnusableFile(UserError):
    """A path that cannot be read as a small data file: a folder, a FIFO, a device, or larger than allowed. The
    message says which (e.g. "a FIFO, not a regular file"); callers put the path and what they wanted in front."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def read_bounded(path: Path, limit_bytes: int) -> bytes:
    """The bytes of the regular file at `path` (links followed), at most `limit_bytes`; never blocks on a FIFO or
    a device and never reads more than the limit (it is checked again while reading: a file may grow).

    Raises UnusableFile for anything else, FileNotFoundError / OSError as the OS says."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnusableFile(f"{_kind(st.st_mode)}, not a regular file")
        if st.st_size > limit_bytes:
            raise UnusableFile(f"too large ({st.st_size} bytes; the limit is {limit_bytes} bytes)")
        data = b""
        while len(data) <= limit_bytes:
            block = os.read(fd, limit_bytes + 1 - len(data))
            if not block:
                break
            data += block
        if len(data) > limit_bytes:
            raise UnusableFile(f"too large (over {limit_bytes} bytes)")
        return data
    finally:
        os.close(fd)
