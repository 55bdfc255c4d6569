"""Resumable step folders under `OUT/checkpoints/`: written atomically, found by `--resume auto`, pruned to N.

A step folder is written as `.step-N.tmp` (every process's part, the state file last), fsynced, then renamed to
`step-N`: a visible `step-N` with its `trainer_state.json` is complete. One without it (left by an older version, or
copied by hand) is incomplete: `--resume auto` skips it with a warning naming it. `--keep-checkpoints N` deletes the
older complete folders of the same run (same saved settings) once a newer one is complete.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from accelerate import Accelerator

from core.files import fsync_dir
from core.training.state import STATE_FILE
from models.errors import UserError

log = logging.getLogger(__name__)

CHECKPOINTS_DIR = "checkpoints"
STEP_RE = re.compile(r"step-(\d+)")
TMP_RE = re.compile(r"\.step-\d+\.(tmp|old)")


def step_of(folder: Path) -> int | None:
    m = STEP_RE.fullmatch(folder.name)
    return int(m.group(1)) if m else None


def saved_meta(folder: Path) -> dict | None:
    """The folder's trainer_state.json, or None when it is missing or unreadable (an incomplete folder)."""
    try:
        raw = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return raw if isinstance(raw, dict) and isinstance(raw.get("step"), int) else None


def step_folders(checkpoints: Path) -> list[Path]:
    """Visible step-N folders, oldest first."""
    if not checkpoints.is_dir():
        return []
    found = [f for f in checkpoints.iterdir() if f.is_dir() and step_of(f) is not None]
    return sorted(found, key=step_of)


def latest_complete(checkpoints: Path) -> tuple[Path | None, list[Path]]:
    """(the newest complete step folder or None, the incomplete ones newer than it)."""
    skipped = []
    for folder in reversed(step_folders(checkpoints)):
        if saved_meta(folder) is not None:
            return folder, skipped
        skipped.append(folder)
    return None, skipped


def resolve_auto(out: Path) -> Path:
    """`--resume auto`: the newest complete step folder under OUT/checkpoints (incomplete ones named and skipped)."""
    checkpoints = out / CHECKPOINTS_DIR
    folder, skipped = latest_complete(checkpoints)
    if skipped:
        log.warning("--resume auto: skipping incomplete step folder(s) %s (no %s: the save was interrupted)",
                    ", ".join(str(s) for s in skipped), STATE_FILE)
    if folder is None:
        raise UserError(f"--resume auto: no complete saved state under {checkpoints}"
                        + (f" (incomplete: {', '.join(s.name for s in skipped)})" if skipped else "")
                        + "; start without --resume")
    return folder


def remove_temporaries(checkpoints: Path) -> None:
    """`.step-N.tmp` / `.step-N.old` folders of a save that was killed: never a complete state."""
    if checkpoints.is_dir():
        for f in checkpoints.iterdir():
            if f.is_dir() and TMP_RE.fullmatch(f.name):
                log.info("removing %s (left by an interrupted save)", f)
                shutil.rmtree(f, ignore_errors=True)


def _fsync_files(folder: Path) -> None:
    for path in folder.iterdir():
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    fsync_dir(folder)


def save_step(checkpoints: Path, step: int, acc: Accelerator, write: Callable[[Path], None]) -> Path:
    """Collective: `write(folder)` fills a temporary folder (the state file last); renamed to step-N when complete."""
    final = checkpoints / f"step-{step}"
    tmp, old = checkpoints / f".step-{step}.tmp", checkpoints / f".step-{step}.old"
    if acc.is_main_process:
        checkpoints.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    acc.wait_for_everyone()
    try:
        write(tmp)
        if acc.is_main_process:
            _fsync_files(tmp)
            if final.exists():  # the same step saved before (a resume from an earlier step): replaced
                os.replace(final, old)
            os.replace(tmp, final)
            fsync_dir(checkpoints)
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        if acc.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    acc.wait_for_everyone()
    return final


def prune(checkpoints: Path, newest: Path, keep: int, meta: dict) -> list[Path]:
    """Delete complete step folders older than `newest` beyond the newest `keep`, only those saved by this run's
    settings (`meta`); keep <= 0 keeps all. Returns what was deleted."""
    if keep <= 0:
        return []
    newest_step = step_of(newest)
    ours = []
    for folder in step_folders(checkpoints):
        saved = saved_meta(folder)
        if saved is not None and step_of(folder) <= newest_step and all(saved.get(k) == v for k, v in meta.items()):
            ours.append(folder)
    doomed = ours[:-keep] if len(ours) > keep else []
    for folder in doomed:
        log.info("removing %s (--keep-checkpoints %d)", folder, keep)
        with contextlib.suppress(OSError):  # hidden first: an interrupted delete never leaves a "complete" half
            hidden = folder.with_name(f".{folder.name}.old")
            os.replace(folder, hidden)
            shutil.rmtree(hidden)
    return doomed
