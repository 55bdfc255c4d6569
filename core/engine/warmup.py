"""Opt-in warm-up at load: one short reply through each network (audio encoder, LLM, TTS LM) and one vocoder
chunk, so that the first user turn does not pay one-time costs (kernel/primitive set-up, allocator growth).

Measured by bench/suite.py (docs/performance.md): the first reply after load is ~40 ms (about 10 %) slower to first
audio than later ones on 2 CPU cores; after `warm_up()` it is not. The warm-up leaves no state behind: the runner's
prompt cache is cleared, and it uses its own seeded generators (the global RNG is not touched).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from core.audio.clips import MODEL_RATE_HZ
from core.lm.conversation import Conversation
from core.lm.sampling import SamplingConfig

log = logging.getLogger(__name__)

WARMUP_CLIP_S = 0.5
WARMUP_TEXT_TOKENS = 2
WARMUP_UNITS = 2
TONE_HZ = 220.0
TONE_AMPLITUDE = 0.3


def warmup_clip() -> np.ndarray:
    """A short tone at 16 kHz (the runner refuses silent clips)."""
    t = np.arange(int(WARMUP_CLIP_S * MODEL_RATE_HZ)) / MODEL_RATE_HZ
    return (TONE_AMPLITUDE * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)


def warm_up(runner, vocoder=None) -> float:
    """Run a tiny greedy reply (and, with a `core.voice.vocoder.Vocoder`, one first chunk of its default
    schedule); returns the seconds it took."""
    started = time.perf_counter()
    conv = Conversation()
    conv.add_user_audio(warmup_clip())
    sampling = SamplingConfig(greedy=True, max_text_tokens=WARMUP_TEXT_TOKENS, max_units=WARMUP_UNITS)
    for _ in runner.reply(conv, sampling):
        pass
    if runner.prompt_cache is not None:
        runner.prompt_cache.clear()
    if vocoder is not None:
        stream = vocoder.open_stream()
        stream.push([0] * stream.schedule.units_for_chunk(0))
        stream.flush()
    elapsed = time.perf_counter() - started
    log.info("warm-up took %.2f s", elapsed)
    return elapsed
