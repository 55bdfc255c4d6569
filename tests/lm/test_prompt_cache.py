"""Prefix KV-cache reuse across turns gives the same reply as re-encoding the whole history."""

from __future__ import annotations

import torch

from core.lm.conversation import Conversation
from core.lm.events import SpeechUnits, TextDelta, TurnEnd
from core.lm.prompt_cache import common_prefix_len
from core.lm.runner import OpenS2SRunner
from core.lm.sampling import SamplingConfig
from tests.helpers import synthetic_clip

CFG = SamplingConfig(greedy=True, max_text_tokens=10, max_units=20)


def _reply(runner, conv):
    logits = {"llm": [], "tts": []}
    stream = runner.reply(conv, CFG, logits_sink=lambda lm, x: logits[lm].append(x))
    events = list(stream)
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    ids = [t for e in events if isinstance(e, (TextDelta, SpeechUnits)) for t in e.token_ids]
    assert isinstance(events[-1], TurnEnd)
    return stream, text, ids, logits


def test_common_prefix_len_compares_turns_by_identity():
    a, b = object(), object()
    assert common_prefix_len([1, 2, (a, 0)], [1, 2, (a, 0), 5]) == 3
    assert common_prefix_len([1, 2, (a, 0)], [1, 2, (b, 0)]) == 2


def test_reused_prefix_equals_full_recompute(tiny_checkpoint):
    cached = OpenS2SRunner.load(tiny_checkpoint, device="cpu", dtype="float64")
    fresh = OpenS2SRunner.load(tiny_checkpoint, device="cpu", dtype="float64", reuse_prefix=False)
    conv = Conversation()
    turns = [synthetic_clip(1.2, seed=1), "tell me more", synthetic_clip(0.8, seed=2), "and then?"]
    previous_prompt = 0
    for i, user in enumerate(turns):
        if isinstance(user, str):
            conv.add_user_text(user)
        else:
            conv.add_user_audio(user)
        s1, text, ids1, logits1 = _reply(cached, conv)
        s2, _, ids2, logits2 = _reply(fresh, conv)
        assert ids1 == ids2
        for lm in ("llm", "tts"):
            torch.testing.assert_close(torch.stack(logits1[lm]), torch.stack(logits2[lm]), atol=1e-5, rtol=0)
        assert s2.reused_positions == 0
        if i == 0:
            assert s1.reused_positions == 0
        else:  # the previous prompt is reused up to its "<think>...</think><|im_tts_start|>" tail (audio included)
            assert previous_prompt - 8 <= s1.reused_positions < previous_prompt
        previous_prompt = s1.plan.n_positions
        conv.add_assistant(text)


def test_cancelled_turn_keeps_the_cache_and_new_history_invalidates(tiny_runner):
    conv = Conversation()
    conv.add_user_text("Hello there")
    stream = tiny_runner.reply(conv, CFG)
    for _ in stream:
        stream.cancel()
    conv.add_assistant("")
    conv.add_user_text("Are you there?")
    assert _reply(tiny_runner, conv)[0].reused_positions > 0
    other = Conversation(system_prompt="You are a pirate.")
    other.add_user_text("Ahoy")
    stream = _reply(tiny_runner, other)[0]
    # the chat template starts with the same tokens, but the differing system prompt stops the reuse early
    assert stream.reused_positions < stream.plan.n_positions // 2
