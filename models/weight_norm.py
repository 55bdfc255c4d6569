"""Weight-normalised convolutions stored in the legacy `weight_g` / `weight_v` layout.

The released `hift.pt` keeps weight norm as two tensors per conv: `weight_g` (magnitude, one per output slice
along dim 0) and `weight_v` (direction). We register them under exactly those names so that the state dict
matches the file, and `fold_weight_norm()` replaces them by the plain product `g * v / ||v||` once loaded
(inference never trains, and folded convs export cleanly to ONNX).
"""

from __future__ import annotations

import logging

import torch
from torch import nn

log = logging.getLogger(__name__)


def weight_norm_product(g: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """`g * v / ||v||` with the norm taken over every dim except 0 (torch's legacy `weight_norm(dim=0)`)."""
    return torch._weight_norm(v, g, 0)


class _LegacyWeightNorm:
    """Mixin: swap `weight` for `weight_g` / `weight_v` parameters; `fold()` restores a plain `weight`."""

    def _split_weight(self) -> None:
        weight = self.weight.detach()
        del self.weight
        norm = weight.flatten(1).norm(dim=1).reshape(-1, *([1] * (weight.dim() - 1)))
        self.weight_g = nn.Parameter(norm.clone())
        self.weight_v = nn.Parameter(weight.clone())

    @property
    def folded(self) -> bool:
        return "weight_v" not in self._parameters

    def fold(self) -> None:
        if self.folded:
            return
        weight = weight_norm_product(self.weight_g.detach(), self.weight_v.detach())
        del self.weight_g
        del self.weight_v
        self.weight = nn.Parameter(weight)

    def _current_weight(self) -> torch.Tensor:
        if self.folded:
            return self.weight
        return weight_norm_product(self.weight_g, self.weight_v)


class WNConv1d(_LegacyWeightNorm, nn.Conv1d):
    """`nn.Conv1d` with legacy weight-norm parameters."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._split_weight()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, T] -> [B, C', T']
        return self._conv_forward(x, self._current_weight(), self.bias)


class WNConvTranspose1d(_LegacyWeightNorm, nn.ConvTranspose1d):
    """`nn.ConvTranspose1d` with legacy weight-norm parameters (norm over dim 0, the input channels)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._split_weight()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, T] -> [B, C', T']
        return nn.functional.conv_transpose1d(
            x,
            self._current_weight(),
            self.bias,
            self.stride,
            self.padding,
            self.output_padding,
            self.groups,
            self.dilation,
        )


def fold_weight_norm(module: nn.Module) -> int:
    """Fold every legacy weight-norm conv under `module`; returns how many were folded."""
    count = 0
    for sub in module.modules():
        if isinstance(sub, _LegacyWeightNorm) and not sub.folded:
            sub.fold()
            count += 1
    log.debug("folded %d weight-norm convs", count)
    return count
