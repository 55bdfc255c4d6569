"""Resumable training state: trainable weights, optimizer, scheduler, step, and every process's RNG.

Only trainable parameters are stored (a LoRA run of the 8B model writes megabytes, not 16 GB). The data order is
a pure function of (seed, epoch), so the step number is the data position. FSDP and DeepSpeed shard the optimizer:
there accelerate's own `save_state` / `load_state` are used instead.
"""

from __future__ import annotations

import json
import logging
import pickle
import random
import warnings
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from models.errors import UserError

log = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"
SHARDED = (DistributedType.FSDP, DistributedType.DEEPSPEED)


def _save_rng(path_stem: Path) -> None:
    """torch (and CUDA) generator states as safetensors, numpy and python states as JSON: no pickle."""
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors.update({f"cuda_{i}": t for i, t in enumerate(torch.cuda.get_rng_state_all())})
    save_file(tensors, str(path_stem.with_suffix(".safetensors")))
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    path_stem.with_suffix(".json").write_text(json.dumps({
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "python": [version, list(internal), gauss_next]}))


def _load_rng(path_stem: Path) -> None:
    tensors = load_file(str(path_stem.with_suffix(".safetensors")))
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[f"cuda_{i}"] for i in range(len(tensors) - 1)]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    raw = json.loads(path_stem.with_suffix(".json").read_text())
    kind, keys, pos, has_gauss, cached = raw["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss_next = raw["python"]
    random.setstate((version, tuple(internal), gauss_next))


def save_state(folder: Path, acc: Accelerator, model, optimizer, scheduler, step: int, meta: dict) -> None:
    """Collective; `folder` exists (steps.save_step makes it). The state file is written last: its presence marks
    the folder complete."""
    if acc.distributed_type in SHARDED:
        acc.save_state(str(folder))
    else:
        if acc.is_main_process:
            plain = acc.unwrap_model(model)
            weights = {n: p.detach().cpu().contiguous() for n, p in plain.named_parameters() if p.requires_grad}
            save_file(weights, str(folder / "trainable.safetensors"))
            torch.save(optimizer.state_dict(), folder / "optimizer.pt")
            torch.save(scheduler.state_dict(), folder / "scheduler.pt")
        _save_rng(folder / f"rng_{acc.process_index}")
    acc.wait_for_everyone()
    if acc.is_main_process:
        (folder / STATE_FILE).write_text(json.dumps({"step": step, "num_processes": acc.num_processes, **meta},
                                                    indent=2))
    acc.wait_for_everyone()


def _read_state(folder: Path) -> dict:
    path = folder / STATE_FILE
    if not path.is_file():
        raise UserError(f"{folder}: no {STATE_FILE} (not a step folder, or its save was interrupted); point --resume "
                        "at a complete step-N folder under <out>/checkpoints, or use --resume auto")
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as err:
        raise UserError(f"{path} is unreadable ({type(err).__name__}); resume from another step folder") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("step"), int) or \
            not isinstance(saved.get("num_processes"), int):
        raise UserError(f"{path}: not a training state written by train (no integer step / num_processes)")
    return saved


def load_state(folder: Path, acc: Accelerator, model, optimizer, scheduler, meta: dict) -> int:
    """Restore everything `save_state` wrote; returns the step to continue from."""
    saved = _read_state(folder)
    for key, value in meta.items():
        if saved.get(key) != value:
            raise UserError(f"{folder}: saved with {key}={saved.get(key)!r}, this run has {value!r}; resume with "
                            "the same settings")
    if saved["num_processes"] != acc.num_processes:
        raise UserError(f"{folder}: saved by {saved['num_processes']} process(es), resumed with "
                        f"{acc.num_processes}; use the same count")
    if acc.distributed_type in SHARDED:
        acc.load_state(str(folder))
    else:
        try:
            _load_plain(folder, acc, model, optimizer, scheduler)
        except pickle.UnpicklingError:
            raise UserError(f"{folder}: a saved file holds pickled objects other than tensors; refused (nothing in it "
                            "was run); resume from another step folder") from None
        except (OSError, ValueError, KeyError, TypeError, IndexError, RuntimeError, SafetensorError, EOFError,
                RecursionError) as err:
            reason = " ".join(str(err).split())[:160]
            raise UserError(f"{folder}: the saved state cannot be loaded ({type(err).__name__}: {reason}); resume "
                            "from another step folder") from None
    log.info("resumed from %s at step %d", folder, saved["step"])
    return int(saved["step"])


def _load_plain(folder: Path, acc: Accelerator, model, optimizer, scheduler) -> None:
    weights = load_file(str(folder / "trainable.safetensors"))
    params = dict(acc.unwrap_model(model).named_parameters())
    unknown = sorted(set(weights) - set(params))
    if unknown:
        raise KeyError(f"trainable.safetensors holds {unknown[0]!r}, which this model does not have")
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value.to(params[name].device))
    optimizer.load_state_dict(_tensors_only(folder / "optimizer.pt"))
    scheduler.load_state_dict(_tensors_only(folder / "scheduler.pt"))
    _load_rng(folder / f"rng_{acc.process_index}")


def _tensors_only(path: Path) -> dict:
    """torch.load restricted to tensors and plain containers (a pickled object is an UnpicklingError, never run)."""
    with warnings.catch_warnings():  # torch warns about the pickle protocol of a refused file on stderr
        warnings.simplefilter("ignore")
        state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path.name} does not hold a state dict")
    return state
