"""Resumable training state: trainable weights, optimizer, scheduler, step, and every process's RNG.

Only trainable parameters are stored (a LoRA run of the 8B model writes megabytes, not 16 GB). The data order is
a pure function of (seed, epoch), so the step number is the data position. FSDP and DeepSpeed shard the optimizer:
there accelerate's own `save_state` / `load_state` are used instead.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType
from safetensors.torch import load_file, save_file

from models.errors import UserError

log = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"
SHARDED = (DistributedType.FSDP, DistributedType.DEEPSPEED)


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_state(folder: Path, acc: Accelerator, model, optimizer, scheduler, step: int, meta: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if acc.distributed_type in SHARDED:
        acc.save_state(str(folder))
    else:
        if acc.is_main_process:
            plain = acc.unwrap_model(model)
            weights = {n: p.detach().cpu().contiguous() for n, p in plain.named_parameters() if p.requires_grad}
            save_file(weights, str(folder / "trainable.safetensors"))
            torch.save(optimizer.state_dict(), folder / "optimizer.pt")
            torch.save(scheduler.state_dict(), folder / "scheduler.pt")
        # pickle: numpy/python RNG states are tuples; read back only by this code, from this run's folder
        torch.save(_rng_state(), folder / f"rng_{acc.process_index}.pt")
    acc.wait_for_everyone()
    if acc.is_main_process:
        (folder / STATE_FILE).write_text(json.dumps({"step": step, "num_processes": acc.num_processes, **meta},
                                                    indent=2))
    acc.wait_for_everyone()


def load_state(folder: Path, acc: Accelerator, model, optimizer, scheduler, meta: dict) -> int:
    """Restore everything `save_state` wrote; returns the step to continue from."""
    path = folder / STATE_FILE
    if not path.is_file():
        raise UserError(f"{folder}: no {STATE_FILE}; point --resume at a step-N folder under <out>/checkpoints")
    saved = json.loads(path.read_text())
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
        weights = load_file(str(folder / "trainable.safetensors"))
        params = dict(acc.unwrap_model(model).named_parameters())
        with torch.no_grad():
            for name, value in weights.items():
                params[name].copy_(value.to(params[name].device))
        optimizer.load_state_dict(torch.load(folder / "optimizer.pt", map_location="cpu", weights_only=True))
        scheduler.load_state_dict(torch.load(folder / "scheduler.pt", weights_only=True))
        _set_rng_state(torch.load(folder / f"rng_{acc.process_index}.pt", weights_only=False))
    log.info("resumed from %s at step %d", folder, saved["step"])
    return int(saved["step"])
