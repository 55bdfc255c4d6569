"""Checks on loaded weight tensors: a float dtype where the model expects floats, and only finite values.

A NaN or an infinity in one weight makes every reply empty (or a WAV of constant -1.0) with exit 0, so loaders
refuse such files naming the key. The finite check is one reduction per tensor: the sum of a tensor is finite only
if every element is (NaN and infinities propagate through a sum); only a non-finite sum, which could also be an
overflow of huge finite values, is confirmed element by element. See docs/reliability/models.md for its cost."""

from __future__ import annotations

import torch

from models.errors import CheckpointError

MAX_LISTED = 4


def is_finite(tensor: torch.Tensor) -> bool:
    """True when a tensor holds no NaN and no infinity (integer and empty tensors always do)."""
    if not tensor.is_floating_point() or tensor.numel() == 0:
        return True
    # bfloat16 / float32 / float64 sum in their own dtype (the fast kernels; their range is float32's or more),
    # float16 in float32 (its own range, 65504, would overflow on a large tensor and take the slow path)
    total = tensor.sum(dtype=torch.float32) if tensor.dtype == torch.float16 else tensor.sum()
    if bool(torch.isfinite(total)):
        return True
    return bool(torch.isfinite(tensor).all())


def dtype_problem(key: str, tensor: torch.Tensor, expected: torch.dtype) -> str | None:
    """A description when the file's tensor cannot stand in for a parameter of dtype `expected`."""
    if expected.is_floating_point and not tensor.is_floating_point():
        return f"{key} is {str(tensor.dtype).removeprefix('torch.')}, not a float dtype"
    return None


def refuse_nonfinite(where: str, keys: list[str]) -> None:
    if keys:
        shown = ", ".join(keys[:MAX_LISTED]) + (f" (+{len(keys) - MAX_LISTED} more)" if len(keys) > MAX_LISTED else "")
        raise CheckpointError(f"{where}: weights hold values that are not finite numbers (NaN or infinity) in "
                              f"{shown}; the file is damaged: re-download or re-export it")
