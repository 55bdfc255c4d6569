"""Training memory plan from parameter counts: weights, gradients, AdamW state and an activation estimate.

    weights      = frozen params x frozen bytes (bf16 on CUDA, fp32 on CPU) + trainable params x 4 (fp32 masters)
    grads + Adam = trainable params x (4 + 8)
    activations  = per LM layer and position: checkpointing keeps the layer input (H values) and recomputes one
                   layer at a time; without it a Qwen3 layer keeps ~(6H + 2 kv + 4 I) values
                   + the head's float32 logits at labelled positions (x2 for their gradient)
The audio encoder is frozen in every stage and its input needs no gradient, so it stores no activations.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.training.stages import LoraSpec, apply_stage
from models.config import OpenS2SConfig
from models.opens2s import OpenS2SModel

GIB = 1024 ** 3


@dataclass(frozen=True)
class Workload:
    batch_size: int = 1
    llm_positions: int = 1024  # per example: prompt + audio embeddings + reply
    tts_positions: int = 600  # per speech item: 1 + reply text tokens + units
    labelled_llm: int = 200  # LLM positions with a label
    labelled_tts: int = 500
    grad_checkpointing: bool = True


@dataclass(frozen=True)
class MemoryPlan:
    total_params: int
    trainable_params: int
    weights_bytes: int
    grads_bytes: int
    optimizer_bytes: int
    activation_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.grads_bytes + self.optimizer_bytes + self.activation_bytes

    def rows(self) -> list[tuple[str, float]]:
        return [("weights", self.weights_bytes / GIB), ("gradients", self.grads_bytes / GIB),
                ("AdamW state", self.optimizer_bytes / GIB), ("activations (estimate)", self.activation_bytes / GIB),
                ("total", self.total_bytes / GIB)]


def _layer_values(cfg, checkpointing: bool) -> int:
    """Values kept per position per decoder layer (see the module docstring)."""
    h = cfg.hidden_size
    if checkpointing:
        return h
    kv = cfg.num_key_value_heads * getattr(cfg, "head_dim", h // cfg.num_attention_heads)
    return 6 * h + 2 * kv + 4 * cfg.intermediate_size


def _recompute_values(cfg) -> int:
    """One layer's full working set, alive while it is recomputed."""
    return _layer_values(cfg, checkpointing=False)


def activation_bytes(config: OpenS2SConfig, work: Workload, act_bytes: int) -> int:
    total = 0
    for cfg, positions, labelled in ((config.llm, work.llm_positions, work.labelled_llm),
                                     (config.tts_lm, work.tts_positions, work.labelled_tts)):
        per_pos = cfg.num_hidden_layers * _layer_values(cfg, work.grad_checkpointing)
        if work.grad_checkpointing:
            per_pos += _recompute_values(cfg)
        total += work.batch_size * positions * per_pos * act_bytes
        total += work.batch_size * labelled * cfg.vocab_size * 4 * 2  # fp32 logits + their gradient
    return total


def count_params(config: OpenS2SConfig, stage: str, lora: LoraSpec | None = None) -> tuple[int, int]:
    """(all, trainable) parameters of the stage, counted on the meta device (nothing is allocated)."""
    with torch.device("meta"):
        model = OpenS2SModel(config)
        apply_stage(model, stage, lora)
    return (sum(p.numel() for p in model.parameters()),
            sum(p.numel() for p in model.parameters() if p.requires_grad))


def memory_plan(config: OpenS2SConfig, stage: str, work: Workload, frozen_bytes: int = 2,
                lora: LoraSpec | None = None) -> MemoryPlan:
    """`frozen_bytes`: 2 for bf16 weights (CUDA), 4 for fp32 (CPU). Activations are in the same width."""
    total, trainable = count_params(config, stage, lora)
    return MemoryPlan(
        total_params=total, trainable_params=trainable,
        weights_bytes=(total - trainable) * frozen_bytes + trainable * 4,
        grads_bytes=trainable * 4, optimizer_bytes=trainable * 8,
        activation_bytes=activation_bytes(config, work, frozen_bytes),
    )
