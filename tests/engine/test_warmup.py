"""core/engine/warmup.py: the opt-in warm-up runs every network once and leaves no state behind."""

from __future__ import annotations

import torch

from core.engine.warmup import warm_up, warmup_clip
from core.lm.conversation import Conversation
from core.lm.events import SpeechUnits, TextDelta
from core.lm.runner import OpenS2SRunner
from core.lm.sampling import SamplingConfig
from core.voice.vocoder import Vocoder
from tests.helpers import synthetic_clip


def _tokens(runner: OpenS2SRunner) -> list[int]:
    conv = Conversation()
    conv.add_user_audio(synthetic_clip(1.0))
    out = []
    for ev in runner.reply(conv, SamplingConfig(greedy=True, max_text_tokens=6, max_units=12)):
        if isinstance(ev, TextDelta | SpeechUnits):
            out += ev.token_ids
    return out


def test_warm_up_leaves_no_state_behind(tiny_checkpoint, tiny_decoder):
    runner = OpenS2SRunner.load(tiny_checkpoint, device="cpu")
    expected = _tokens(OpenS2SRunner.load(tiny_checkpoint, device="cpu"))
    rng = torch.random.get_rng_state()
    steps = []
    runner.model.llm_model.get_input_embeddings().register_forward_hook(lambda *_: steps.append("llm"))
    runner.model.tts_lm_model.get_input_embeddings().register_forward_hook(lambda *_: steps.append("tts"))
    elapsed = warm_up(runner, Vocoder.load(tiny_decoder, backend="torch"))
    assert elapsed > 0
    assert {"llm", "tts"} <= set(steps)  # both LMs were fed tokens
    assert torch.equal(torch.random.get_rng_state(), rng)
    conv = Conversation()
    conv.add_user_audio(warmup_clip())
    keys = runner.reply(conv).plan.position_keys()  # shares the system prompt prefix with the warm-up turn
    assert runner.prompt_cache.checkout(keys) == (None, 0)  # nothing cached from the warm-up turn
    assert _tokens(runner) == expected


def test_warmup_clip_is_a_usable_turn():
    clip = warmup_clip()
    assert clip.dtype.name == "float32" and clip.size > 1600 and abs(clip).max() > 0.1
