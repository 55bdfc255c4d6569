"""The flow-matching vector field: a 1-D U-Net (Matcha-TTS layout) with transformer blocks at every level.

Called twice per Euler step (conditional and unconditional pass for classifier-free guidance), so it is the
part exported to ONNX. Inputs are one utterance without padding, so every mask of the original is all ones and
is left out. State-dict names follow the released `flow.pt` (`decoder.estimator.down_blocks.0.0.block1...`).
"""

from __future__ import annotations

import logging
import math

import torch
from torch import nn

from models.decoder_config import EstimatorConfig

log = logging.getLogger(__name__)

GROUP_NORM_GROUPS = 8
TIME_SCALE = 1000.0  # the sinusoidal time embedding sees t * 1000
TIME_EMBED_MULT = 4  # time MLP width = 4 * channels[0]
FF_MULT = 4


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """[B] times in [0, 1] -> [B, dim] sinusoids (sin half, then cos half)."""
    half = dim // 2
    freq = torch.exp(torch.arange(half, device=t.device).float() * -(math.log(10000) / (half - 1)))  # [half]
    angle = TIME_SCALE * t.unsqueeze(1) * freq.unsqueeze(0)  # [B, half]
    return torch.cat((angle.sin(), angle.cos()), dim=-1)


class TimeMLP(nn.Module):
    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.linear_1 = nn.Linear(in_dim, out_dim)
        self.linear_2 = nn.Linear(out_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(nn.functional.silu(self.linear_1(x)))


class ConvNormMish(nn.Module):
    """`block.0` Conv1d k3, `block.1` GroupNorm(8), Mish."""

    def __init__(self, dim: int, dim_out: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv1d(dim, dim_out, 3, padding=1), nn.GroupNorm(GROUP_NORM_GROUPS, dim_out), nn.Mish()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, dim_out: int, time_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Mish(), nn.Linear(time_dim, dim_out))
        self.block1 = ConvNormMish(dim, dim_out)
        self.block2 = ConvNormMish(dim_out, dim_out)
        self.res_conv = nn.Conv1d(dim, dim_out, 1)

    def forward(self, x: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:  # [B, C, T], [B, Dt]
        h = self.block1(x) + self.mlp(t_emb).unsqueeze(-1)
        return self.block2(h) + self.res_conv(x)


class Attention(nn.Module):
    """Plain multi-head self-attention: `to_q/to_k/to_v` without bias, `to_out.0` with bias."""

    def __init__(self, dim: int, heads: int, head_dim: int) -> None:
        super().__init__()
        inner = heads * head_dim
        self.heads, self.head_dim = heads, head_dim
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(dim, inner, bias=False)
        self.to_v = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(inner, dim)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, C]
        b, t, _ = x.shape
        q, k, v = (
            proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
            for proj in (self.to_q, self.to_k, self.to_v)
        )  # [B, H, T, dh]
        out = nn.functional.scaled_dot_product_attention(q, k, v)  # [B, H, T, dh]
        return self.to_out[0](out.transpose(1, 2).reshape(b, t, -1))


class GeluProj(nn.Module):
    def __init__(self, dim: int, inner: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, inner)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.gelu(self.proj(x))


class FeedForward(nn.Module):
    """`net.0` Linear+GELU, `net.1` (dropout, no weights), `net.2` Linear."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.net = nn.ModuleList([GeluProj(dim, dim * FF_MULT), nn.Identity(), nn.Linear(dim * FF_MULT, dim)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.net:
            x = layer(x)
        return x


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, head_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, heads, head_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, C]
        x = x + self.attn1(self.norm1(x))
        return x + self.ff(self.norm3(x))


class Downsample(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(dim, dim, 3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose1d(dim, dim, 4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def _conv3(dim: int) -> nn.Conv1d:
    return nn.Conv1d(dim, dim, 3, padding=1)


def _level(resnet: nn.Module, cfg: EstimatorConfig, dim: int, resample: nn.Module | None) -> nn.ModuleList:
    blocks = nn.ModuleList(TransformerBlock(dim, cfg.heads, cfg.head_dim) for _ in range(cfg.n_blocks))
    return nn.ModuleList([resnet, blocks] + ([resample] if resample is not None else []))


def _run_level(level: nn.ModuleList, x: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
    x = level[0](x, t_emb).transpose(1, 2)  # [B, T, C]
    for block in level[1]:
        x = block(x)
    return x.transpose(1, 2)  # [B, C, T]


class FlowEstimator(nn.Module):
    """v(x, mu, t, spks, cond): [B, 80, T] x4 (+ [B] time, [B, 80] speaker) -> [B, 80, T]."""

    def __init__(self, cfg: EstimatorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        widths = cfg.channels
        time_dim = widths[0] * TIME_EMBED_MULT
        self.time_mlp = TimeMLP(cfg.in_channels, time_dim)
        last = len(widths) - 1
        ins = (cfg.in_channels, *widths[:-1])  # down level i: ins[i] -> widths[i]
        self.down_blocks = nn.ModuleList(
            _level(ResnetBlock(ins[i], w, time_dim), cfg, w, Downsample(w) if i < last else _conv3(w))
            for i, w in enumerate(widths)
        )
        self.mid_blocks = nn.ModuleList(
            _level(ResnetBlock(widths[-1], widths[-1], time_dim), cfg, widths[-1], None)
            for _ in range(cfg.n_mid_blocks)
        )
        ups = (*widths[::-1], widths[0])  # up level i: 2 * ups[i] (with the skip) -> ups[i + 1]
        self.up_blocks = nn.ModuleList(
            _level(
                ResnetBlock(2 * ups[i], ups[i + 1], time_dim),
                cfg,
                ups[i + 1],
                Upsample(ups[i + 1]) if i < last else _conv3(ups[i + 1]),
            )
            for i in range(len(widths))
        )
        self.final_block = ConvNormMish(widths[0], widths[0])
        self.final_proj = nn.Conv1d(widths[0], cfg.out_channels, 1)

    def forward(
        self, x: torch.Tensor, mu: torch.Tensor, t: torch.Tensor, spks: torch.Tensor, cond: torch.Tensor
    ) -> torch.Tensor:
        t_emb = self.time_mlp(timestep_embedding(t, self.cfg.in_channels))  # [B, Dt]
        speaker = spks.unsqueeze(-1).expand(-1, -1, x.shape[-1])  # [B, 80, T]
        h = torch.cat([x, mu, speaker, cond], dim=1)  # [B, 320, T]
        skips = []
        for level in self.down_blocks:
            h = _run_level(level, h, t_emb)
            skips.append(h)
            h = level[2](h)
        for level in self.mid_blocks:
            h = _run_level(level, h, t_emb)
        for level in self.up_blocks:
            skip = skips.pop()
            h = _run_level(level, torch.cat([h[:, :, : skip.shape[-1]], skip], dim=1), t_emb)
            h = level[2](h)
        return self.final_proj(self.final_block(h))  # [B, 80, T]
