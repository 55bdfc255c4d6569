"""Write a trained model as a checkpoint in the released layout: config.json, safetensors shards + index, and the
source checkpoint's tokenizers, generation configs, `tts/` and `audio/` files copied unchanged.

The export is staged: everything is written into `OUT/.export.tmp-<pid>/` first (fsynced), and only once that is
complete are the previous export's entries moved aside and the new ones renamed into place (renames only, no data
written), then the old ones removed. A failed or interrupted export leaves the previous model in OUT as it was.
Run files (`metrics.jsonl`, `checkpoints/`) and files of the user's that the export does not write are never touched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import torch
from huggingface_hub import split_torch_state_dict_into_shards
from safetensors.torch import save_file

from core.files import TMP_MARK, fsync_dir
from models.checkpoint import AUDIO_SUBDIR, SHARD_INDEX_FILE, SINGLE_WEIGHTS_FILE, TTS_SUBDIR
from models.config import CONFIG_FILE, OpenS2SConfig

log = logging.getLogger(__name__)

SHARD_PATTERN = "model{suffix}.safetensors"
SIDE_SUBDIRS = (AUDIO_SUBDIR, TTS_SUBDIR)
ADAPTER_SUBDIR = "adapter"  # = stages.ADAPTER_DIR (written by --save-adapter; part of the export it belongs to)
# root files of the released layout besides weights and config: tokenizer files, generation configs, chat templates
SIDE_SUFFIXES = (".json", ".txt", ".model", ".jinja", ".tiktoken")
# never side files, even with a side suffix: a source's run files and weight bookkeeping
NOT_SIDE = frozenset({CONFIG_FILE, SHARD_INDEX_FILE, "trainer_state.json", "adapter_config.json"})


def _is_weight_file(name: str) -> bool:
    return name == SHARD_INDEX_FILE or (name.startswith("model") and name.endswith(".safetensors"))


def side_files(source: Path) -> list[str]:
    """Names of the released layout's side entries in `source`: root tokenizer/generation files, `audio/`, `tts/`.

    Never the source's run files (metrics.jsonl, checkpoints/, adapter/) nor hidden or temporary entries."""
    names = []
    for f in sorted(Path(source).iterdir()):
        if f.name.startswith("."):
            continue
        if f.is_dir():
            if f.name in SIDE_SUBDIRS:
                names.append(f.name)
        elif f.suffix in SIDE_SUFFIXES and f.name not in NOT_SIDE and not _is_weight_file(f.name):
            names.append(f.name)
    return names


def copy_side_files(source: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in side_files(source):
        if (source / name).is_dir():
            shutil.copytree(source / name, out / name, dirs_exist_ok=True)
        else:
            shutil.copy2(source / name, out / name)


def save_weights(state: dict[str, torch.Tensor], out: Path, dtype: torch.dtype, max_shard_size: str) -> list[str]:
    state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in state.items()}
    split = split_torch_state_dict_into_shards(state, filename_pattern=SHARD_PATTERN, max_shard_size=max_shard_size)
    for name, keys in split.filename_to_tensors.items():
        save_file({k: state[k] for k in keys}, str(out / name), metadata={"format": "pt"})
    if split.is_sharded:
        index = {"metadata": {**split.metadata}, "weight_map": split.tensor_to_filename}
        (out / SHARD_INDEX_FILE).write_text(json.dumps(index, indent=2))
    elif (out / SHARD_PATTERN.format(suffix="")).name != SINGLE_WEIGHTS_FILE:
        raise AssertionError("internal: single-file name")
    return sorted(split.filename_to_tensors)


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
        else:
            fsync_dir(path)
    fsync_dir(folder)


def _stale(out: Path, new: set[str]) -> list[str]:
    """Entries of OUT the new export replaces or makes stale: the same names, other weight files, an old adapter/."""
    return sorted(f.name for f in out.iterdir() if not f.name.startswith(".") and
                  (f.name in new or _is_weight_file(f.name) or f.name == ADAPTER_SUBDIR))


def swap_in(stage: Path, out: Path) -> None:
    """Move the complete export in `stage` into `out`: old entries aside first, then the new ones, then drop the old."""
    new = {f.name for f in stage.iterdir()}
    old_dir = out / f".export.old{TMP_MARK}{os.getpid()}"
    old_dir.mkdir()
    moved_old, moved_new = [], []
    try:
        for name in _stale(out, new):
            os.replace(out / name, old_dir / name)
            moved_old.append(name)
        for name in sorted(new):
            os.replace(stage / name, out / name)
            moved_new.append(name)
    except BaseException:  # put the previous export back as it was (renames within one folder)
        for name in moved_new:
            with contextlib.suppress(OSError):
                os.replace(out / name, stage / name)
        for name in moved_old:
            with contextlib.suppress(OSError):
                os.replace(old_dir / name, out / name)
        raise
    finally:
        fsync_dir(out)
    shutil.rmtree(old_dir, ignore_errors=True)


@contextlib.contextmanager
def staged_export(out: Path) -> Iterator[Path]:
    """`with staged_export(out) as stage:` write the whole export into `stage`; on a normal exit it is fsynced and
    swapped into `out`; on any error (or Ctrl-C) it is dropped and `out` keeps its previous model."""
    out.mkdir(parents=True, exist_ok=True)
    stage = out / f".export{TMP_MARK}{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        yield stage
        _fsync_tree(stage)
        swap_in(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def write_export(state: dict[str, torch.Tensor], config: OpenS2SConfig, source: Path, stage: Path,
                 dtype: torch.dtype = torch.bfloat16, max_shard_size: str = "5GB") -> list[str]:
    """`state`: the full model state dict with the released key names (LoRA merged; tied heads are dropped here)."""
    copy_side_files(source, stage)
    if config.tts_lm.tie_word_embeddings:
        state.pop("tts_lm_model.lm_head.weight", None)
    if config.llm.tie_word_embeddings:
        state.pop("llm_model.lm_head.weight", None)
    files = save_weights(state, stage, dtype, max_shard_size)
    (stage / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2))
    log.info("staged %s (%d weight file(s), %s)", stage, len(files), dtype)
    return files


def export_checkpoint(state: dict[str, torch.Tensor], config: OpenS2SConfig, source: Path, out: Path,
                      dtype: torch.dtype = torch.bfloat16, max_shard_size: str = "5GB") -> Path:
    with staged_export(out) as stage:
        write_export(state, config, source, stage, dtype, max_shard_size)
    return out


def remove_leftovers(out: Path) -> None:
    """Drop the staging folder of an export that was killed (kill -9, power loss): never the only copy of a model.

    A `.export.old-*` folder (a kill inside the swap's few renames) may hold the previous model: kept, and named."""
    if not out.is_dir():
        return
    for f in out.iterdir():
        if f.is_dir() and f.name.startswith(".export" + TMP_MARK):
            log.info("removing %s (left by an interrupted export)", f)
            shutil.rmtree(f, ignore_errors=True)
        elif f.is_dir() and f.name.startswith(".export.old" + TMP_MARK):
            log.warning("%s holds files of an export that was killed while being swapped in; check it and delete it",
                        f)
