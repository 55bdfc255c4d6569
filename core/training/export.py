"""Write a trained model as a checkpoint in the released layout: config.json, safetensors shards + index, and the
source checkpoint's tokenizers, generation configs, `tts/` and `audio/` files copied unchanged."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import torch
from huggingface_hub import split_torch_state_dict_into_shards
from safetensors.torch import save_file

from models.checkpoint import AUDIO_SUBDIR, SHARD_INDEX_FILE, SINGLE_WEIGHTS_FILE, TTS_SUBDIR
from models.config import CONFIG_FILE, OpenS2SConfig

log = logging.getLogger(__name__)

SHARD_PATTERN = "model{suffix}.safetensors"


def _is_weight_file(path: Path) -> bool:
    return path.name == SHARD_INDEX_FILE or (path.name.startswith("model") and path.suffix == ".safetensors")


def copy_side_files(source: Path, out: Path) -> None:
    """Everything but the weights and config: tokenizer files, generation config, audio/ and tts/."""
    out.mkdir(parents=True, exist_ok=True)
    for f in source.iterdir():
        if f.is_file() and not _is_weight_file(f) and f.name != CONFIG_FILE:
            shutil.copy2(f, out / f.name)
    for sub in (AUDIO_SUBDIR, TTS_SUBDIR):
        if (source / sub).is_dir():
            shutil.copytree(source / sub, out / sub, dirs_exist_ok=True)


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


def export_checkpoint(state: dict[str, torch.Tensor], config: OpenS2SConfig, source: Path, out: Path,
                      dtype: torch.dtype = torch.bfloat16, max_shard_size: str = "5GB") -> Path:
    """`state`: the full model state dict with the released key names (LoRA merged, tied heads dropped)."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():  # never leave shards of an earlier, differently split export behind
        if old.is_file() and _is_weight_file(old):
            old.unlink()
    copy_side_files(source, out)
    if config.tts_lm.tie_word_embeddings:
        state.pop("tts_lm_model.lm_head.weight", None)
    if config.llm.tie_word_embeddings:
        state.pop("llm_model.lm_head.weight", None)
    files = save_weights(state, out, dtype, max_shard_size)
    (out / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2))
    log.info("wrote %s (%d weight file(s), %s)", out, len(files), dtype)
    return out
