"""Sampling as pure functions, checked against hand-computed expectations."""

from __future__ import annotations

import pytest
import torch
from transformers import GenerationConfig

from core.lm.sampling import LMSampling, SamplingConfig, apply_repetition_penalty, next_token, warp_logits


def test_repetition_penalty_divides_positive_and_multiplies_negative():
    logits = torch.tensor([2.0, -2.0, 1.0])
    out = apply_repetition_penalty(logits, [0, 1, 0], 2.0)
    assert out.tolist() == [1.0, -4.0, 1.0]


def test_top_k_and_top_p_masks():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    k2 = warp_logits(logits, LMSampling(do_sample=True, top_k=2))
    assert torch.isinf(k2[2:]).all() and torch.isfinite(k2[:2]).all()
    p = warp_logits(logits, LMSampling(do_sample=True, top_p=0.75))  # keeps 0.5 + 0.3
    assert torch.isfinite(p[:2]).all() and torch.isinf(p[2:]).all()
    tiny_p = warp_logits(logits, LMSampling(do_sample=True, top_p=0.01))  # always keeps the best one
    assert torch.isfinite(tiny_p).tolist() == [True, False, False, False]


def test_greedy_is_argmax_and_sampling_uses_the_generator():
    logits = torch.tensor([0.0, 3.0, 1.0])
    assert next_token(logits, LMSampling(do_sample=False), None, []) == 1
    s = LMSampling(do_sample=True, temperature=5.0)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    seq1 = [next_token(logits, s, g1, []) for _ in range(50)]
    seq2 = [next_token(logits, s, g2, []) for _ in range(50)]
    assert seq1 == seq2 and len(set(seq1)) > 1
    before = torch.random.get_rng_state()
    next_token(logits, s, torch.Generator().manual_seed(0), [])
    assert torch.equal(before, torch.random.get_rng_state())  # the global RNG is never touched


def test_resolution_from_generation_configs():
    gen = GenerationConfig(top_k=20, repetition_penalty=1.1, max_new_tokens=300)
    llm = SamplingConfig().resolve_llm(gen)
    assert (llm.do_sample, llm.temperature, llm.top_p, llm.top_k, llm.repetition_penalty) == (True, 0.2, 0.8, 20, 1.1)
    assert SamplingConfig().text_budget(gen) == 300
    tts = SamplingConfig().resolve_tts(GenerationConfig())
    assert (tts.do_sample, tts.temperature, tts.top_p, tts.top_k) == (True, 1.0, 1.0, 50)
    assert SamplingConfig().unit_budget(GenerationConfig()) == 512
    assert not SamplingConfig(greedy=True).resolve_tts(GenerationConfig()).do_sample
    assert not SamplingConfig(temperature=0.0).resolve_llm(gen).do_sample


@pytest.mark.parametrize("kwargs", [{"temperature": -1}, {"top_p": 0}, {"top_p": 1.5}, {"max_units": 0},
                                    {"top_k": -1}, {"repetition_penalty": 0}])
def test_invalid_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        SamplingConfig(**kwargs)
