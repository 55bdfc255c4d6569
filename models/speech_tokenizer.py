"""GLM-4-Voice speech tokenizer network: the released `WhisperVQEncoder` up to its quantizer.

A Whisper-large-v3-style encoder with the release's changes: causal convolutions, block-causal self-attention
(`quantize_causal_block_size` frames per block, bidirectional inside a block), average pooling after layer
`pooling_position`, and a nearest-codeword (L2) lookup in a 16384-entry codebook after layer `quantize_position`.
Only the layers up to the quantizer exist here; the transformer blocks are transformers' `WhisperEncoderLayer`
(same parameter names as the release). Checkpoint I/O is in `models.speech_tokenizer_checkpoint`.

    net = WhisperVQEncoder(SpeechTokenizerConfig.from_dict(json.load(...), "config.json"))
    out = net(features, frame_mask)   # features [B, 128, T] log-mel, frame_mask [B, T] (1 = real frame)
    out.codes [B, T // 8], out.mask [B, T // 8], out.states [B, T // 8, d_model] (pooled, before the lookup)
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoderLayer

from models.errors import CheckpointError

log = logging.getLogger(__name__)

ARCHITECTURE = "WhisperVQEncoder"
CONV_KERNEL = 3
CONV2_STRIDE = 2
ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager")


@dataclass(frozen=True)
class SpeechTokenizerConfig:
    """The fields of the released `config.json` this network uses (names as in the file)."""

    d_model: int = 1280
    encoder_attention_heads: int = 20
    encoder_ffn_dim: int = 5120
    num_mel_bins: int = 128
    max_source_positions: int = 1500  # conv2 frames of one 30 s window
    quantize_position: int = 16  # the codebook lookup follows this many layers
    pooling_position: int = 16
    pooling_kernel_size: int | None = 4
    pooling_type: str = "avg"
    quantize_vocab_size: int = 16384
    quantize_causal_block_size: int | None = 200  # conv2 frames per attention block (None: full attention)
    encoder_causal_convolution: bool = True
    activation_function: str = "gelu"
    attn_implementation: str = "sdpa"  # not a file field: how the blocks compute attention

    def __post_init__(self) -> None:
        if self.d_model % self.encoder_attention_heads:
            raise CheckpointError(
                f"config.json: d_model {self.d_model} is not a multiple of encoder_attention_heads "
                f"{self.encoder_attention_heads}"
            )
        if self.pooling_type not in ("avg", "max"):
            raise CheckpointError(f"config.json: pooling_type {self.pooling_type!r} is not supported (avg or max)")
        if not 1 <= self.pooling_position <= self.quantize_position:
            raise CheckpointError(
                f"config.json: need 1 <= pooling_position ({self.pooling_position}) <= quantize_position "
                f"({self.quantize_position})"
            )
        if self.quantize_vocab_size < 1:
            raise CheckpointError("config.json: quantize_vocab_size must be set (a codebook is required)")
        if self.attn_implementation not in ATTENTION_IMPLEMENTATIONS:
            raise CheckpointError(f"unknown attention implementation {self.attn_implementation!r}")

    @property
    def pool(self) -> int:
        return self.pooling_kernel_size or 1

    @property
    def frames_per_code(self) -> int:
        """Mel frames per output code (conv2 stride x pooling kernel): 8 for the release."""
        return CONV2_STRIDE * self.pool

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config.json") -> SpeechTokenizerConfig:
        """Validate a released `config.json`; one-line `CheckpointError` naming the offending key."""
        archs = data.get("architectures") or []
        if ARCHITECTURE not in archs:
            raise CheckpointError(f"{source}: architectures is {archs}, not [{ARCHITECTURE!r}]; "
                                  "this is not a GLM-4-Voice speech tokenizer")
        unsupported = {"encoder_causal_attention": True, "quantize_causal_encoder": True}
        for key, bad in unsupported.items():
            if data.get(key) == bad:
                raise CheckpointError(f"{source}: {key}={bad} is not supported (the release has false)")
        kwargs: dict[str, Any] = {}
        for name in (
            "d_model", "encoder_attention_heads", "encoder_ffn_dim", "num_mel_bins", "max_source_positions",
            "quantize_position", "pooling_position", "pooling_kernel_size", "pooling_type", "quantize_vocab_size",
            "quantize_causal_block_size", "encoder_causal_convolution", "activation_function",
        ):
            if name in data:
                kwargs[name] = data[name]
        for name in ("d_model", "quantize_vocab_size", "quantize_position"):
            if not isinstance(data.get(name), int):
                raise CheckpointError(f"{source}: {name} must be an integer, got {data.get(name)!r}")
        return cls(**kwargs)

    def whisper_config(self) -> WhisperConfig:
        """A transformers WhisperConfig carrying what `WhisperEncoderLayer` reads."""
        config = WhisperConfig(
            d_model=self.d_model,
            encoder_attention_heads=self.encoder_attention_heads,
            encoder_ffn_dim=self.encoder_ffn_dim,
            encoder_layers=self.quantize_position,
            num_mel_bins=self.num_mel_bins,
            max_source_positions=self.max_source_positions,
            activation_function=self.activation_function,
            dropout=0.0,
            attention_dropout=0.0,
            activation_dropout=0.0,
        )
        config._attn_implementation = self.attn_implementation
        return config


@dataclass(frozen=True)
class VQOutput:
    codes: torch.Tensor  # [B, T'] int64 codebook indices
    mask: torch.Tensor  # [B, T'] bool, True where the code comes from real audio
    states: torch.Tensor  # [B, T', C] pooled encoder states the codes were looked up for


class WhisperVQEncoder(nn.Module):
    """The released tokenizer's encoder up to the quantizer; parameter names match the unprefixed release."""

    def __init__(self, config: SpeechTokenizerConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        pad = 0 if config.encoder_causal_convolution else 1  # causal: left padding in forward
        self.conv1 = nn.Conv1d(config.num_mel_bins, d, CONV_KERNEL, padding=pad)
        self.conv2 = nn.Conv1d(d, d, CONV_KERNEL, stride=CONV2_STRIDE, padding=pad)
        self.embed_positions = nn.Embedding(config.max_source_positions, d)
        whisper = config.whisper_config()
        self.layers = nn.ModuleList(WhisperEncoderLayer(whisper) for _ in range(config.quantize_position))
        self.codebook = nn.Embedding(config.quantize_vocab_size, d)
        # Added to the codes before any later layer; none exist here, but the release stores it (strict keys).
        self.embed_positions2 = nn.Embedding(math.ceil(config.max_source_positions / config.pool), d)

    def _conv(self, conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
        if self.config.encoder_causal_convolution:
            x = nn.functional.pad(x, (CONV_KERNEL - 1, 0))
        return nn.functional.gelu(conv(x))

    def _attention_bias(self, key_mask: torch.Tensor, block: int | None, dtype: torch.dtype) -> torch.Tensor:
        """[B, T] key mask -> [B, 1, T, T] additive bias: a query sees earlier frames and its whole block."""
        t = key_mask.shape[1]
        idx = torch.arange(t, device=key_mask.device)
        if block is None:
            allowed = torch.ones(t, t, dtype=torch.bool, device=key_mask.device)
        else:
            allowed = (idx[None, :] <= idx[:, None]) | (idx[:, None] // block == idx[None, :] // block)  # [T, T]
        allowed = allowed[None] & key_mask[:, None, :].bool()  # [B, T, T]
        bias = torch.zeros(allowed.shape, dtype=dtype, device=key_mask.device)
        return bias.masked_fill_(~allowed, torch.finfo(dtype).min)[:, None]

    def _pool(self, hidden: torch.Tensor) -> torch.Tensor:
        k = self.config.pool
        x = hidden.transpose(1, 2)  # [B, C, T]
        if x.shape[-1] % k:
            x = nn.functional.pad(x, (0, k - x.shape[-1] % k))  # zeros count in the average, as in the release
        pool = nn.functional.avg_pool1d if self.config.pooling_type == "avg" else nn.functional.max_pool1d
        return pool(x, k).transpose(1, 2)  # [B, T/k, C]

    def quantize(self, states: torch.Tensor) -> torch.Tensor:
        """[B, T, C] -> [B, T] nearest codeword by squared L2 distance (computed in float32)."""
        flat = states.reshape(-1, states.shape[-1]).float()  # [N, C]
        book = self.codebook.weight.float()  # [V, C]
        distances = torch.addmm(
            book.square().sum(1)[None, :] + flat.square().sum(1, keepdim=True), flat, book.t(), alpha=-2.0
        )  # [N, V]
        return distances.argmin(dim=1).reshape(states.shape[:2])

    def forward(self, features: torch.Tensor, frame_mask: torch.Tensor) -> VQOutput:
        """features [B, n_mels, T] (T even), frame_mask [B, T] -> codes, code mask and pooled states."""
        cfg = self.config
        hidden = self._conv(self.conv2, self._conv(self.conv1, features)).transpose(1, 2)  # [B, T/2, C]
        t = hidden.shape[1]
        if t > cfg.max_source_positions:
            raise ValueError(f"{features.shape[-1]} mel frames exceed one {cfg.max_source_positions * 2}-frame window")
        mask = frame_mask[:, ::CONV2_STRIDE]  # [B, T/2]
        if mask.shape[1] != t:
            raise ValueError(f"mel frame count {features.shape[-1]} must be even")
        hidden = hidden + self.embed_positions.weight[:t]
        block = cfg.quantize_causal_block_size
        bias = self._attention_bias(mask, block, hidden.dtype)
        for index, layer in enumerate(self.layers):
            hidden = layer(hidden, bias)
            if index + 1 == cfg.pooling_position and cfg.pooling_kernel_size:
                hidden = self._pool(hidden)
                mask = mask[:, :: cfg.pool]
                bias = self._attention_bias(mask, None if block is None else block // cfg.pool, hidden.dtype)
        return VQOutput(codes=self.quantize(hidden), mask=mask.bool(), states=hidden)
