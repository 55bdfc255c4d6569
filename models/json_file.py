"""Read an untrusted JSON file of a checkpoint as data, with one-line errors that name the file.

Unreadable (permissions, I/O) and malformed (not UTF-8, not JSON, nested too deep, NaN / Infinity) are told
apart; MemoryError passes through untouched (the front ends have their own line for it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.config_checks import check_json_tree
from models.errors import CheckpointError

MAX_JSON_BYTES = 64 * 1024 * 1024  # the released TTS tokenizer.json is ~3 MB


def unreadable(path: Path | str, err: OSError) -> CheckpointError:
    """The one line for a file or folder that exists but cannot be read."""
    reason = err.strerror or type(err).__name__
    hint = "; check its permissions" if isinstance(err, PermissionError) else ""
    return CheckpointError(f"cannot read {err.filename or path} ({reason}){hint}")


def read_json(path: Path, *, finite: bool = True) -> Any:
    """The parsed file. `finite`: also refuse NaN / Infinity anywhere in it."""
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise CheckpointError(f"{path} is over {MAX_JSON_BYTES >> 20} MB; is it the right file?")
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise unreadable(path, err) from None
    except UnicodeDecodeError:
        raise CheckpointError(f"{path} is not a text file (not UTF-8); re-download the checkpoint") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path} is not readable JSON ({err.msg} at line {err.lineno}); re-download it") from None
    except RecursionError:
        raise CheckpointError(f"{path} is nested too deeply to be a checkpoint file; re-download it") from None
    if finite:
        check_json_tree(str(path), data)
    return data
