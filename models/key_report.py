"""One line naming every missing, unexpected and mis-shaped tensor of a checkpoint file against a network.

Shared by the strict loaders (vocoder, speech tokenizer): they raise `CheckpointError` with this text.
"""

from __future__ import annotations

import torch

MAX_LISTED_KEYS = 6


def _describe(label: str, names: list[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED_KEYS]) + (", ..." if len(names) > MAX_LISTED_KEYS else "")
    return f"{len(names)} {label} ({shown})"


def key_problems(module: torch.nn.Module, state: dict[str, torch.Tensor]) -> str:
    """'' when `state` has exactly the module's keys and shapes, else e.g. '2 missing (a, b); 1 mis-shaped (...)'."""
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    missing = sorted(k for k in expected if k not in state)
    unexpected = sorted(k for k in state if k not in expected)
    misshaped = sorted(
        f"{k}: file {list(state[k].shape)} vs config {list(s)}"
        for k, s in expected.items()
        if k in state and tuple(state[k].shape) != s
    )
    return "; ".join(
        _describe(label, names)
        for label, names in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped))
        if names
    )
