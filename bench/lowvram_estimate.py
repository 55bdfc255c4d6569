"""Computed (not measured) GPU memory of an OpenS2S model per weights option, from its config alone.

The model is built on the meta device (no memory), and every parameter is counted as stored by the option:
`models.quantize.quantizable_linears` picks the same Linears the loader quantizes. Bytes per stored element:

    full (bf16)   2 B per weight
    int8          1 B per weight + per output row a fp32 scale (4 B) and an int8 zero point (1 B)   (torchao Int8Tensor)
    int4          0.5 B per weight + per group of 128 inputs a bf16 scale and a bf16 zero (4 B)     (tile-packed int4)

On top of the weights: the KV caches (bf16) for a given number of LLM / TTS positions, the GLM-4-Voice decoder in
fp32 (flow 111.2 M + HiFT 20.4 M parameters, docs/vocoder.md) and a fixed allowance for the CUDA context and
activations (an assumption, not measured here).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from models.config import OpenS2SConfig
from models.opens2s import OpenS2SModel
from models.quantize import INT4_GROUP_SIZE, quantizable_linears
from models.tiny_checkpoint import TinySpec, tiny_config
from models.weights import INT4, INT8, WEIGHT_KINDS, WeightsOption

log = logging.getLogger(__name__)

GIB = 1024**3
BF16_BYTES = 2
INT8_ROW_BYTES = 4 + 1  # fp32 scale + int8 zero point per output row
INT4_GROUP_BYTES = 2 + 2  # bf16 scale + bf16 zero per group
VOCODER_PARAMS = 111.2e6 + 20.4e6  # flow + HiFT, released glm-4-voice-decoder
VOCODER_BYTES_PER_PARAM = 4  # the decoder runs in fp32
CUDA_OVERHEAD_GIB = 1.0  # CUDA context + allocator slack + activations: an assumption, not measured
# Released LLM: Qwen3-8B + 4 added tokens (spec 1.3). The TTS LM's size is not published: assumed Qwen3-1.7B-shaped
# (tied embeddings) over the Qwen vocabulary + 16384 unit tokens. Pass --config to use a real config.json instead.
LLM_VOCAB_8B = 151_673
ASSUMED_TTS_VOCAB = 151_669 + 16_384
RELEASED_SHAPE = TinySpec(enc_dim=1280, enc_layers=32, enc_heads=20, llm_dim=4096, llm_layers=36, llm_heads=32,
                          llm_kv_heads=8, tts_dim=2048, tts_layers=28, tts_heads=16, tts_kv_heads=8,
                          adapter_inner_dim=512, tie_tts_embeddings=True, max_positions=40960)


def released_config() -> OpenS2SConfig:
    return tiny_config(RELEASED_SHAPE, llm_vocab=LLM_VOCAB_8B, tts_vocab=ASSUMED_TTS_VOCAB)


@dataclass(frozen=True)
class Estimate:
    weights: str
    lm_block_params: int  # parameters in the quantized Linears
    other_params: int  # everything else (embeddings, heads, norms, encoder, adapter, projections)
    weight_bytes: int
    kv_bytes: int
    vocoder_bytes: int
    overhead_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.weight_bytes + self.kv_bytes + self.vocoder_bytes + self.overhead_bytes


def linear_bytes(out_features: int, in_features: int, kind: str) -> float:
    """Stored bytes of one quantized [out, in] weight (see the module docstring)."""
    n = out_features * in_features
    if kind == INT8:
        return n + out_features * INT8_ROW_BYTES
    if kind == INT4:
        return n / 2 + out_features * (in_features // INT4_GROUP_SIZE) * INT4_GROUP_BYTES
    return n * BF16_BYTES


def kv_bytes_per_position(lm_config) -> int:
    head_dim = getattr(lm_config, "head_dim", None) or lm_config.hidden_size // lm_config.num_attention_heads
    return lm_config.num_hidden_layers * 2 * lm_config.num_key_value_heads * head_dim * BF16_BYTES


def estimate(config: OpenS2SConfig, kind: str, llm_positions: int, tts_positions: int,
             include_tts_lm: bool = True) -> Estimate:
    """Bytes on the GPU for `config` loaded with `--weights kind` (bf16 compute), computed, nothing allocated."""
    with torch.device("meta"):
        model = OpenS2SModel(config)
    option = WeightsOption(kind, include_tts_lm=include_tts_lm)
    selected = quantizable_linears(model, option) if option.quantized else {}
    selected_ids = {id(lin.weight) for lin in selected.values()}
    block = sum(lin.weight.numel() for lin in selected.values())
    other = sum(p.numel() for p in model.parameters() if id(p) not in selected_ids)  # tied heads counted once
    weight = other * BF16_BYTES + sum(linear_bytes(lin.out_features, lin.in_features, kind)
                                      for lin in selected.values())
    kv = (kv_bytes_per_position(config.llm) * llm_positions + kv_bytes_per_position(config.tts_lm) * tts_positions)
    return Estimate(kind, block, other, int(weight), kv, int(VOCODER_PARAMS * VOCODER_BYTES_PER_PARAM),
                    int(CUDA_OVERHEAD_GIB * GIB))


def estimate_table(config: OpenS2SConfig, llm_positions: int, tts_positions: int, budget_gib: float) -> list[dict]:
    rows = []
    for kind in WEIGHT_KINDS:
        e = estimate(config, kind, llm_positions, tts_positions)
        rows.append({"weights": "full (bf16)" if kind == "full" else kind,
                     "weights_gib": e.weight_bytes / GIB, "kv_gib": e.kv_bytes / GIB,
                     "vocoder_gib": e.vocoder_bytes / GIB, "overhead_gib": e.overhead_bytes / GIB,
                     "total_gib": e.total_bytes / GIB, "fits": e.total_bytes / GIB <= budget_gib,
                     "quantized_params": e.lm_block_params, "other_params": e.other_params})
    return rows
