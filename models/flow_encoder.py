"""Block-causal conformer encoder of the GLM-4-Voice flow (no conv module, no macaron FFN, pre-LayerNorm).

Each position attends to every earlier position and to every position of its own block of `block_size` units;
blocks are counted from the first input position. Attention uses Transformer-XL style relative positions
(ESPnet variant: sinusoids for relative distances +(T-1) .. -(T-1), learnt biases u and v per head).
State-dict names follow the released `flow.pt` (`encoder.embed.out.0`, `encoder.encoders.i.self_attn...`).
"""

from __future__ import annotations

import logging
import math

import torch
from torch import nn

from models.decoder_config import EncoderConfig

log = logging.getLogger(__name__)

LAYER_NORM_EPS = 1e-5
POS_BASE = 10000.0


def block_causal_mask(n: int, block_size: int, device: torch.device | None = None) -> torch.Tensor:
    """[n, n] bool: query i may see key j iff j <= i or j is in i's block (j < (i // block + 1) * block)."""
    idx = torch.arange(n, device=device)
    visible_end = (idx // block_size + 1) * block_size  # [n] first key index i may NOT see
    return idx[None, :] < visible_end[:, None]


def relative_position_table(n: int, d_model: int, device: torch.device | None = None) -> torch.Tensor:
    """[1, 2n-1, d] sinusoids for relative distances n-1, n-2, ..., 0, -1, ..., -(n-1) (ESPnet order)."""
    distance = torch.arange(n - 1, -n, -1, dtype=torch.float32, device=device).unsqueeze(1)  # [2n-1, 1]
    freq = torch.exp(
        torch.arange(0, d_model, 2, dtype=torch.float32, device=device) * -(math.log(POS_BASE) / d_model)
    )  # [d/2]
    table = torch.zeros(2 * n - 1, d_model, device=device)
    table[:, 0::2] = torch.sin(distance * freq)
    table[:, 1::2] = torch.cos(distance * freq)
    return table.unsqueeze(0)


def shift_relative(scores: torch.Tensor) -> torch.Tensor:
    """[B, H, T, 2T-1] scores against relative distances -> [B, H, T, T] scores against key positions.

    Column k of the input is distance (T-1-k); key j of query i has distance i-j, so it reads column T-1-i+j.
    """
    b, h, t, _ = scores.shape
    key = torch.arange(t, device=scores.device)
    column = (t - 1) - key[:, None] + key[None, :]  # [T, T]
    return torch.gather(scores, 3, column.expand(b, h, t, t))


class RelBlockSelfAttention(nn.Module):
    """Multi-head self-attention with relative positions and a block-causal mask."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.heads, self.head_dim, self.block_size = cfg.heads, d // cfg.heads, cfg.block_size
        self.linear_q = nn.Linear(d, d)
        self.linear_k = nn.Linear(d, d, bias=cfg.key_bias)
        self.linear_v = nn.Linear(d, d)
        self.linear_out = nn.Linear(d, d)
        self.linear_pos = nn.Linear(d, d, bias=False)
        self.pos_bias_u = nn.Parameter(torch.zeros(self.heads, self.head_dim))
        self.pos_bias_v = nn.Parameter(torch.zeros(self.heads, self.head_dim))

    def _split(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, D] -> [B, T, H, dk]
        return x.view(x.shape[0], -1, self.heads, self.head_dim)

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        q = self._split(self.linear_q(x))  # [B, T, H, dk]
        k = self._split(self.linear_k(x)).transpose(1, 2)  # [B, H, T, dk]
        v = self._split(self.linear_v(x)).transpose(1, 2)  # [B, H, T, dk]
        p = self._split(self.linear_pos(pos)).transpose(1, 2)  # [1, H, 2T-1, dk]
        content = torch.matmul((q + self.pos_bias_u).transpose(1, 2), k.transpose(-2, -1))  # [B, H, T, T]
        position = torch.matmul((q + self.pos_bias_v).transpose(1, 2), p.transpose(-2, -1))  # [B, H, T, 2T-1]
        scores = (content + shift_relative(position)) / math.sqrt(self.head_dim)
        hidden = ~block_causal_mask(t, self.block_size, x.device)  # [T, T]
        weights = torch.softmax(scores.masked_fill(hidden, -float("inf")), dim=-1).masked_fill(hidden, 0.0)
        out = torch.matmul(weights, v).transpose(1, 2).reshape(x.shape[0], t, -1)  # [B, T, D]
        return self.linear_out(out)


class FeedForward(nn.Module):
    def __init__(self, d_model: int, units: int) -> None:
        super().__init__()
        self.w_1 = nn.Linear(d_model, units)
        self.w_2 = nn.Linear(units, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w_2(nn.functional.silu(self.w_1(x)))


class EncoderLayer(nn.Module):
    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.self_attn = RelBlockSelfAttention(cfg)
        self.feed_forward = FeedForward(cfg.d_model, cfg.ffn_units)
        self.norm_mha = nn.LayerNorm(cfg.d_model, eps=LAYER_NORM_EPS)
        self.norm_ff = nn.LayerNorm(cfg.d_model, eps=LAYER_NORM_EPS)

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.norm_mha(x), pos)
        return x + self.feed_forward(self.norm_ff(x))


class InputLayer(nn.Module):
    """Linear + LayerNorm (`embed.out.0/1`); the caller scales by sqrt(d) and builds the position table."""

    def __init__(self, input_size: int, d_model: int) -> None:
        super().__init__()
        self.out = nn.Sequential(nn.Linear(input_size, d_model), nn.LayerNorm(d_model, eps=LAYER_NORM_EPS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(x)


class BlockConformerEncoder(nn.Module):
    """[B, N, D_in] unit embeddings -> [B, N, D] encodings."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = InputLayer(cfg.input_size, cfg.d_model)
        self.encoders = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_layers))
        self.after_norm = nn.LayerNorm(cfg.d_model, eps=LAYER_NORM_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x) * math.sqrt(self.cfg.d_model)  # [B, N, D]
        pos = relative_position_table(x.shape[1], self.cfg.d_model, x.device)  # [1, 2N-1, D]
        for layer in self.encoders:
            x = layer(x, pos)
        return self.after_norm(x)
