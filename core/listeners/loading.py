"""Checkpoint resolution and the checks that turn a bad checkpoint into a one-line "off" reason."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_MAX_REASON_CHARS = 240
_HARMLESS_MISSING = ("masked_spec_embed",)  # wav2vec2 training-only parameter


class ListenerLoadError(Exception):
    """A listener checkpoint cannot be used; `str(err)` is the reason shown as "off — reason"."""


class ListenerNotDownloaded(ListenerLoadError):
    """A hub id that is not in the hub cache and could not be fetched (offline, or downloads not allowed): an
    expected state, logged at INFO, not a broken checkpoint."""


NOT_DOWNLOADED = "not downloaded"


def resolve_checkpoint(spec: str, *, local_files_only: bool) -> tuple[str, dict[str, Any]]:
    """Map a dir or hub id to (from_pretrained's source, its extra kwargs). Raises ListenerLoadError."""
    expanded = os.path.expanduser(spec)
    looks_local = os.path.isabs(expanded) or spec.startswith((".", "~")) or os.path.exists(expanded)
    if not looks_local:
        return spec, {"local_files_only": local_files_only}
    path = Path(expanded)
    if not path.is_dir():
        raise ListenerLoadError(f"checkpoint not found: {path}")
    if not (path / "config.json").is_file():
        raise ListenerLoadError(f"no config.json in {path}")
    if not any(path.glob("*.safetensors")):
        raise ListenerLoadError(f"no .safetensors weights in {path} (other weight formats are refused)")
    return str(path), {"local_files_only": True}


def load_config(source: str, kwargs: dict[str, Any]) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source, **kwargs)
    except Exception as err:  # transformers raises OSError, ValueError, KeyError... for bad configs
        if not os.path.isdir(source) and not _in_hub_cache(source) and not _no_such_repo(err):
            how = "downloads are off here" if kwargs.get("local_files_only") else "the hub could not be reached"
            raise ListenerNotDownloaded(f"{NOT_DOWNLOADED}: {source} is not in the hub cache ({how})") from err
        raise ListenerLoadError(f"unreadable config: {short_error(err)}") from err


def _no_such_repo(err: BaseException) -> bool:
    """The hub answered that the repository does not exist (a typo, not a missing download)."""
    e: BaseException | None = err
    for _ in range(8):
        if e is None:
            return False
        if type(e).__name__ in ("RepositoryNotFoundError", "GatedRepoError"):
            return True
        e = e.__cause__ or e.__context__
    return False


def _in_hub_cache(repo_id: str) -> bool:
    """True when the hub cache holds `repo_id`'s config.json (or when that cannot be told: a malformed id)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # an id the hub client refuses: let the original error speak
        return True


def load_model(auto_cls: Any, source: str, kwargs: dict[str, Any], device: str) -> Any:
    """from_pretrained (safetensors only, fp32), refusing checkpoints that lack weights; eval, on `device`."""
    import torch

    try:
        model, info = auto_cls.from_pretrained(
            source, dtype=torch.float32, use_safetensors=True, output_loading_info=True, **kwargs
        )
    except Exception as err:  # corrupt safetensors, wrong shapes, unknown architectures...
        raise ListenerLoadError(f"could not load weights: {short_error(err)}") from err
    missing = _really_missing(model, info.get("missing_keys", ()))
    if missing:
        raise ListenerLoadError(f"checkpoint lacks {len(missing)} weights, e.g. {missing[0]}")
    if info.get("mismatched_keys"):
        example = sorted(info["mismatched_keys"])[0]
        raise ListenerLoadError(f"checkpoint has mismatched weights, e.g. {example}")
    try:
        return model.to(device).eval()
    except Exception as err:  # e.g. device="cuda" without CUDA
        raise ListenerLoadError(f"cannot move model to {device}: {short_error(err)}") from err


def _really_missing(model: Any, missing_keys: Any) -> list[str]:
    """Missing keys minus tied weights (e.g. Whisper's proj_out = embed_tokens) and training-only ones."""
    state = dict(model.named_parameters(remove_duplicate=False))
    state.update(model.named_buffers(remove_duplicate=False))
    missing = {k for k in missing_keys if not k.endswith(_HARMLESS_MISSING)}
    loaded_ptrs = {t.data_ptr() for k, t in state.items() if k not in missing}
    return sorted(k for k in missing if k not in state or state[k].data_ptr() not in loaded_ptrs)


def load_component(loader: Any, what: str, source: str, kwargs: dict[str, Any]) -> Any:
    """Feature extractor or tokenizer via `loader.from_pretrained`, failures as ListenerLoadError."""
    try:
        return loader.from_pretrained(source, **kwargs)
    except Exception as err:  # missing or malformed preprocessor / tokenizer files
        raise ListenerLoadError(f"could not load {what}: {short_error(err)}") from err


def require_model_type(config: Any, allowed: tuple[str, ...] | set[str], what: str) -> None:
    model_type = getattr(config, "model_type", None)
    if model_type not in allowed:
        raise ListenerLoadError(f"not a {what} checkpoint (model_type={model_type!r})")


def labels_from_config(config: Any) -> tuple[str, ...]:
    """The label set, in class-index order, from the checkpoint's `id2label`."""
    id2label = getattr(config, "id2label", None) or {}
    try:
        labels = tuple(str(id2label[i]) for i in range(len(id2label)))
    except KeyError as err:
        raise ListenerLoadError(f"id2label keys are not 0..{len(id2label) - 1}: {sorted(id2label)}") from err
    if len(labels) < 2:
        raise ListenerLoadError(f"id2label has {len(labels)} labels; a classifier needs at least 2")
    return labels


def short_error(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    line = f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")
    return line if len(line) <= _MAX_REASON_CHARS else line[: _MAX_REASON_CHARS - 1] + "…"
