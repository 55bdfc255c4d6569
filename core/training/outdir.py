"""What `train` may do with its `--out` folder, decided before any work (before the model is loaded).

OUT holds two things kept apart: the **model export** (the released layout: config.json, weights, tokenizer files,
generation configs, audio/, tts/, adapter/), swapped in only when complete, and the **run files**: metrics.jsonl and
the resumable states under checkpoints/step-N. Rules:

- OUT must not be, contain or lie inside --checkpoint, --data or --eval-data (one line).
- A fresh run (no --resume) refuses an OUT with step folders of an earlier run: it would otherwise mix with them and
  a later `--resume auto` would pick theirs. Continue that run with --resume auto, or delete OUT/checkpoints.
- A fresh run refuses an OUT holding a checkpoint train did not write (config.json but no metrics.jsonl).
- A fresh run into a non-empty OUT says, in one warning line, what it replaces and what it keeps.
"""

from __future__ import annotations

import logging
from pathlib import Path

from core.files import refuse_overlap
from core.training.config import TrainConfig
from core.training.steps import CHECKPOINTS_DIR, step_folders
from models.config import CONFIG_FILE
from models.errors import UserError

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"


def check_out(cfg: TrainConfig, announce: bool) -> None:
    """Raise UserError for an OUT this run must not use; warn (when `announce`) before reusing a non-empty one."""
    out = Path(cfg.out).expanduser()
    refuse_overlap(out, {"--checkpoint": cfg.checkpoint, "--data": cfg.data, "--eval-data": cfg.eval_data})
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder for the trained checkpoint")
    if cfg.resume or not out.is_dir():
        return
    steps = step_folders(out / CHECKPOINTS_DIR)
    if steps:
        names = ", ".join(s.name for s in steps[-3:])
        raise UserError(f"--out {out} holds resumable states of an earlier run ({names} in {out / CHECKPOINTS_DIR}): "
                        f"continue it with --resume auto, or delete {out / CHECKPOINTS_DIR} to start over, or choose "
                        "another --out")
    has_model = (out / CONFIG_FILE).is_file()
    if has_model and not (out / METRICS_FILE).is_file():
        raise UserError(f"--out {out} holds a checkpoint that train did not write (no {METRICS_FILE}); train only "
                        "replaces its own earlier output: choose another --out")
    if announce and any(not f.name.startswith(".") for f in out.iterdir()):
        what = "its previous model is replaced once the new export is complete (kept if this run fails)" \
            if has_model else "the model export is written there"
        log.warning("--out %s is not empty: %s; %s is started afresh; other files are kept", out, what, METRICS_FILE)
