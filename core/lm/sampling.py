"""Sampling settings (frozen, validated) and pure sampling functions with an explicit `torch.Generator`.

The processing order and semantics follow transformers' `generate()`: repetition penalty, then (when sampling)
temperature, top-k, top-p, then a multinomial draw; greedy decoding is an argmax over the penalised logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import GenerationConfig

from core.options import opt

HF_DEFAULT_TOP_K = 50  # what generate() uses when a config leaves top_k unset
REFERENCE_MAX_NEW_TOKENS = 512  # OpenS2S generate()'s fallback for both LMs
SAMPLE_THRESHOLD_TEMPERATURE = 1e-3  # the reference worker samples only above this temperature


@dataclass(frozen=True)
class LMSampling:
    """Resolved decoding settings for one LM."""

    do_sample: bool
    temperature: float = 1.0
    top_k: int = 0  # 0 = off
    top_p: float = 1.0
    repetition_penalty: float = 1.0

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0 (got {self.temperature}); use greedy decoding instead")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (got {self.top_k})")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1] (got {self.top_p})")
        if self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty must be > 0 (got {self.repetition_penalty})")


@dataclass(frozen=True)
class SamplingConfig:
    """What a user or caller chooses for one reply. `None` = take it from the checkpoint's generation config.

    Defaults follow the reference web demo for the LLM (temperature 0.2, top_p 0.8) and the reference worker for
    the TTS LM (sampling at temperature 1, top_p 1, top_k from `tts/generation_config.json` or 50).
    """

    temperature: float = opt(0.2, "LLM sampling temperature (0 = greedy)")
    top_p: float = opt(0.8, "LLM nucleus sampling: the smallest set of tokens adding up to this probability")
    top_k: int | None = opt(None, "LLM top-k (none: the checkpoint's generation config, else 50)")
    repetition_penalty: float | None = opt(None, "LLM repetition penalty (none: the checkpoint's generation config)")
    tts_temperature: float = opt(1.0, "TTS LM sampling temperature (0 = greedy)")
    tts_top_p: float = opt(1.0, "TTS LM nucleus sampling")
    tts_top_k: int | None = opt(None, "TTS LM top-k (none: tts/generation_config.json, else 50)")
    greedy: bool = opt(False, "greedy for both LMs (deterministic; used for parity checks)")
    seed: int | None = opt(None, "sampling seed (default: random)")
    max_text_tokens: int | None = opt(None, "text budget per reply (none: the checkpoint's, else 512)")
    max_units: int | None = opt(None, "speech-unit budget per reply (none: the checkpoint's, else 512)")

    def __post_init__(self) -> None:
        for name in ("temperature", "tts_temperature"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("top_p", "tts_top_p"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1]")
        for name in ("top_k", "tts_top_k", "max_text_tokens", "max_units"):
            value = getattr(self, name)
            if value is not None and value < (0 if "top_k" in name else 1):
                raise ValueError(f"{name} must be {'>= 0' if 'top_k' in name else '>= 1'} (got {value})")
        if self.repetition_penalty is not None and self.repetition_penalty <= 0:
            raise ValueError("repetition_penalty must be > 0")

    def resolve_llm(self, gen: GenerationConfig) -> LMSampling:
        do_sample = not self.greedy and self.temperature > SAMPLE_THRESHOLD_TEMPERATURE
        return _resolve(gen, do_sample, self.temperature, self.top_p, self.top_k, self.repetition_penalty)

    def resolve_tts(self, gen: GenerationConfig) -> LMSampling:
        do_sample = not self.greedy and self.tts_temperature > SAMPLE_THRESHOLD_TEMPERATURE
        return _resolve(gen, do_sample, self.tts_temperature, self.tts_top_p, self.tts_top_k, None)

    def text_budget(self, gen: GenerationConfig) -> int:
        return self.max_text_tokens or gen.max_new_tokens or REFERENCE_MAX_NEW_TOKENS

    def unit_budget(self, tts_gen: GenerationConfig) -> int:
        return self.max_units or tts_gen.max_new_tokens or REFERENCE_MAX_NEW_TOKENS


def _resolve(gen: GenerationConfig, do_sample: bool, temperature: float, top_p: float, top_k: int | None,
             repetition_penalty: float | None) -> LMSampling:
    penalty = repetition_penalty if repetition_penalty is not None else (gen.repetition_penalty or 1.0)
    if not do_sample:
        return LMSampling(do_sample=False, repetition_penalty=penalty)
    k = top_k if top_k is not None else (gen.top_k if gen.top_k is not None else HF_DEFAULT_TOP_K)
    return LMSampling(do_sample=True, temperature=temperature, top_k=k, top_p=top_p, repetition_penalty=penalty)


def apply_repetition_penalty(logits: torch.Tensor, context_ids: list[int], penalty: float) -> torch.Tensor:
    """logits: [V] float32. Tokens in `context_ids` get their logit divided (if > 0) or multiplied by `penalty`."""
    if penalty == 1.0 or not context_ids:
        return logits
    idx = torch.tensor(context_ids, device=logits.device, dtype=torch.long)
    scores = logits.gather(0, idx)
    scores = torch.where(scores < 0, scores * penalty, scores / penalty)
    return logits.scatter(0, idx, scores)


def warp_logits(logits: torch.Tensor, s: LMSampling) -> torch.Tensor:
    """Temperature, top-k, top-p on [V] float32 logits; removed entries become -inf."""
    if s.temperature != 1.0:
        logits = logits / s.temperature
    if s.top_k > 0:
        kth = torch.topk(logits, min(s.top_k, logits.numel())).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if s.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=False)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        remove_sorted = cum <= 1 - s.top_p
        remove_sorted[-1] = False  # always keep the most likely token
        remove = remove_sorted.scatter(0, order, remove_sorted)
        logits = logits.masked_fill(remove, float("-inf"))
    return logits


def next_token(logits: torch.Tensor, s: LMSampling, generator: torch.Generator | None,
               context_ids: list[int]) -> int:
    """Pick the next token id from last-position logits [V] (any float dtype; processed in float32)."""
    logits = apply_repetition_penalty(logits.float(), context_ids, s.repetition_penalty)
    if not s.do_sample:
        return int(torch.argmax(logits))
    probs = warp_logits(logits, s).softmax(-1)
    return int(torch.multinomial(probs, 1, generator=generator))
