"""The public reference worker's decode algorithm, re-implemented for benchmarking: one transformers `generate()`
call per interleave span for each LM (KV caches passed between calls), greedy. It computes the same tokens as
`core.lm.runner`; only the mechanics differ. Used by bench/ to measure what the cached single-step loop saves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache

from core.lm.runner import OpenS2SRunner


@dataclass
class BaselineResult:
    text_ids: list[int] = field(default_factory=list)
    tts_ids: list[int] = field(default_factory=list)
    first_unit_s: float | None = None
    llm_s: float = 0.0  # wall time inside LLM generate() calls
    tts_s: float = 0.0  # wall time inside TTS generate() calls
    llm_first_s: float = 0.0  # the first LLM generate() call (prefill + first span)
    llm_first_tokens: int = 0
    tts_first_s: float = 0.0  # the first TTS generate() call
    tts_first_tokens: int = 0


@torch.inference_mode()
def generate_per_span(runner: OpenS2SRunner, prompt: torch.Tensor, max_text: int, max_units: int,
                      on_units: Callable[[BaselineResult, list[int]], None] | None = None) -> BaselineResult:
    """Greedy reply with a `generate()` call per span; prompt: [1, P, H] embeddings.

    on_units(result, new_tts_ids) is called after each TTS `generate()` (result already holds them), so a caller
    can feed a vocoder as the reference worker does."""
    model, ts, ss = runner.model, runner.text_span, runner.speech_span
    llm, tts = model.llm_model, model.tts_lm_model
    llm_seq, tts_seq = [prompt], [model.speaker_slot()]
    llm_cache, tts_cache = DynamicCache(config=llm.config), DynamicCache(config=tts.config)
    common = {"do_sample": False, "return_dict_in_generate": True, "pad_token_id": 0}
    res, t0, first = BaselineResult(), time.perf_counter(), True
    while True:
        t = time.perf_counter()
        out = llm.generate(inputs_embeds=torch.cat(llm_seq, 1), cache=llm_cache, output_hidden_states=True,
                           max_new_tokens=min(ts, max_text - len(res.text_ids)),
                           eos_token_id=list(runner.llm_eos), **common)
        res.llm_s += time.perf_counter() - t
        new = out.sequences[0].tolist()
        if first:
            res.llm_first_s, res.llm_first_tokens = time.perf_counter() - t, len(new)
        res.text_ids += new
        llm_seq.append(llm.get_input_embeddings()(out.sequences))
        hs = out.hidden_states
        pieces = ([hs[0][-1][:, -1:]] + [hs[i][-1] for i in range(1, len(new))]) if first else \
            [hs[i][-1] for i in range(len(new))]
        first = False
        tts_seq.append(model.project_to_tts(torch.cat(pieces, 1)))
        done = new[-1] in runner.llm_eos or len(res.text_ids) >= max_text
        budget = max_units - len(res.tts_ids) if done else min(ss, max_units - len(res.tts_ids))
        if budget < 1:
            return res
        t = time.perf_counter()
        out = tts.generate(inputs_embeds=torch.cat(tts_seq, 1), cache=tts_cache, max_new_tokens=budget,
                           eos_token_id=list(runner.tts_eos), **common)
        res.tts_s += time.perf_counter() - t
        if res.first_unit_s is None:
            res.first_unit_s = time.perf_counter() - t0
            res.tts_first_s, res.tts_first_tokens = time.perf_counter() - t, out.sequences.shape[1]
        res.tts_ids += out.sequences[0].tolist()
        if on_units is not None:
            on_units(res, out.sequences[0].tolist())
        tts_seq.append(tts.get_input_embeddings()(out.sequences))
        if done:
            return res
