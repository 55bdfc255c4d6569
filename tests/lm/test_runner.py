"""The streaming interleaved runner: cache == full recompute, schedules, budgets, cancellation, history."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from core.lm.conversation import Conversation
from core.lm.events import SpeechUnits, StopReason, TextDelta, TurnEnd
from core.lm.runner import OpenS2SRunner
from core.lm.sampling import SamplingConfig
from models.errors import UserError
from tests.helpers import synthetic_clip

GREEDY = SamplingConfig(greedy=True, max_text_tokens=16, max_units=40)


def _conv(text: str = "Hello! How are you today?") -> Conversation:
    conv = Conversation()
    conv.add_user_text(text)
    return conv


def _collect(stream):
    text, tts, units = [], [], []
    events = list(stream)
    for ev in events:
        if isinstance(ev, TextDelta):
            text += ev.token_ids
        elif isinstance(ev, SpeechUnits):
            tts += ev.token_ids
            units += ev.units
    return events, text, tts, units


@torch.no_grad()
def _naive_greedy(runner: OpenS2SRunner, prompt: torch.Tensor, max_text: int, max_units: int):
    """The reference algorithm with NO cache: every step recomputes the whole sequence of each LM."""
    model, ts, ss = runner.model, runner.text_span, runner.speech_span
    llm, tts = model.llm_model, model.tts_lm_model
    llm_in, tts_in = prompt, model.speaker_slot()
    text, units, llm_logits, tts_logits = [], [], [], []
    while True:
        hiddens, span = [], []
        for _ in range(min(ts, max_text - len(text))):
            h = llm.model(inputs_embeds=llm_in, use_cache=False).last_hidden_state[:, -1:]
            logits = llm.lm_head(h)[0, -1]
            tok = int(logits.argmax())
            llm_logits.append(logits)
            hiddens.append(h)
            span.append(tok)
            llm_in = torch.cat([llm_in, llm.get_input_embeddings()(torch.tensor([[tok]]))], 1)
            if tok in runner.llm_eos:
                break
        text += span
        done = span[-1] in runner.llm_eos or len(text) >= max_text
        tts_in = torch.cat([tts_in, model.project_to_tts(torch.cat(hiddens, 1))], 1)
        budget = max_units - len(units) if done else min(ss, max_units - len(units))
        if budget < 1:
            return text, units, llm_logits, tts_logits
        for _ in range(budget):
            logits = tts.lm_head(tts.model(inputs_embeds=tts_in, use_cache=False).last_hidden_state[:, -1])[0]
            tok = int(logits.argmax())
            tts_logits.append(logits)
            units.append(tok)
            tts_in = torch.cat([tts_in, tts.get_input_embeddings()(torch.tensor([[tok]]))], 1)
            if tok in runner.tts_eos:
                break
        if done:
            return text, units, llm_logits, tts_logits


@pytest.mark.parametrize("variant", ["1:2", "3:1", "4:8"])
def test_cached_loop_equals_full_recompute(tiny_checkpoint_factory, variant):
    # float64 so that the only possible difference is the algorithm, not summation order
    runner = OpenS2SRunner.load(tiny_checkpoint_factory(variant), device="cpu", dtype="float64")
    conv = Conversation()
    conv.add_user_audio(synthetic_clip(1.5, seed=5))
    logits = {"llm": [], "tts": []}
    stream = runner.reply(conv, GREEDY, logits_sink=lambda lm, x: logits[lm].append(x))
    _, text, tts, _ = _collect(stream)
    n_text, n_tts, naive_llm, naive_tts = _naive_greedy(runner, stream.prompt_embeds(), 16, 40)
    assert text == n_text and tts == n_tts
    torch.testing.assert_close(torch.stack(logits["llm"]), torch.stack(naive_llm).float(), atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.stack(logits["tts"]), torch.stack(naive_tts).float(), atol=1e-5, rtol=0)


def _check_schedule(events, runner, max_text, max_units):
    """Walk the events and check they follow text_span:speech_span with the budget rules."""
    ts, ss = runner.text_span, runner.speech_span
    kinds = [("t" if isinstance(e, TextDelta) else "u", e.token_ids[0])
             for e in events if not isinstance(e, TurnEnd) and e.token_ids]
    i, n_text, n_units = 0, 0, 0
    while i < len(kinds):
        span = 0
        while i < len(kinds) and kinds[i][0] == "t" and span < ts:
            span, n_text, i = span + 1, n_text + 1, i + 1
            if kinds[i - 1][1] in runner.llm_eos:
                break
        done = kinds[i - 1][1] in runner.llm_eos or n_text >= max_text
        assert span == min(ts, max_text - (n_text - span)) or done, f"short text span at event {i}"
        want = max_units - n_units if done else min(ss, max_units - n_units)
        got = 0
        while i < len(kinds) and kinds[i][0] == "u":
            got, n_units, i = got + 1, n_units + 1, i + 1
            if kinds[i - 1][1] in runner.tts_eos:
                break
        assert got == want or (got and kinds[i - 1][1] in runner.tts_eos), f"unit span {got} != {want}"
        if done:
            assert i == len(kinds)
    return n_text, n_units


@pytest.mark.parametrize("variant", ["1:2", "3:1", "4:8"])
def test_event_order_follows_interleave_schedule(tiny_checkpoint_factory, variant):
    runner = OpenS2SRunner.load(tiny_checkpoint_factory(variant), device="cpu")
    ts, ss = (int(x) for x in variant.split(":"))
    assert (runner.text_span, runner.speech_span) == (ts, ss)
    events, text, tts, _ = _collect(runner.reply(_conv(), SamplingConfig(greedy=True, max_text_tokens=12,
                                                                         max_units=200)))
    n_text, n_units = _check_schedule(events, runner, 12, 200)
    assert (n_text, n_units) == (len(text), len(tts))
    assert isinstance(events[-1], TurnEnd)


def test_unit_budget_spent_before_text_ends(tiny_runner):
    events, text, tts, _ = _collect(tiny_runner.reply(_conv(), SamplingConfig(greedy=True, max_text_tokens=50,
                                                                              max_units=7)))
    end = events[-1]
    assert end.reason is StopReason.MAX_UNITS
    # 1:2 -> spans of 2 units: 4 text tokens draw 7 units (2+2+2+1), the 5th finds the budget empty
    assert len(tts) == 7 and len(text) == 5
    _check_schedule(events, tiny_runner, 50, 7)


def test_text_budget_then_final_units(tiny_runner):
    events, text, tts, _ = _collect(tiny_runner.reply(_conv(), SamplingConfig(greedy=True, max_text_tokens=3,
                                                                              max_units=30)))
    assert events[-1].reason in (StopReason.MAX_TEXT_TOKENS, StopReason.EOS)
    assert len(text) <= 3
    assert len(tts) == 30 or tts[-1] in tiny_runner.tts_eos


def test_units_are_offset_and_eos_excluded(tiny_runner):
    _, _, tts, units = _collect(tiny_runner.reply(_conv(), GREEDY))
    expected = [t - tiny_runner.unit_offset for t in tts
                if 0 <= t - tiny_runner.unit_offset < 16384 and t not in tiny_runner.tts_eos]
    assert units == expected and units


def test_cancel_before_and_during(tiny_runner):
    stream = tiny_runner.reply(_conv(), GREEDY)
    stream.cancel()
    events = list(stream)
    assert len(events) == 1 and events[0].reason is StopReason.CANCELLED

    stream = tiny_runner.reply(_conv(), SamplingConfig(greedy=True, max_text_tokens=200, max_units=400))
    seen = []
    for ev in stream:
        seen.append(ev)
        if len(seen) == 5:
            stream.cancel()
    steps_after = [e for e in seen[5:] if not isinstance(e, TurnEnd) and e.token_ids]
    assert not steps_after and seen[-1].reason is StopReason.CANCELLED


def test_cancel_from_another_thread_stops_within_one_step(tiny_runner):
    stream = tiny_runner.reply(_conv(), SamplingConfig(greedy=True, max_text_tokens=2000, max_units=4000))
    seen: list = []
    first = threading.Event()

    def consume():
        for ev in stream:
            seen.append(ev)
            first.set()
            time.sleep(0.002)

    worker = threading.Thread(target=consume)
    worker.start()
    assert first.wait(10)
    stream.cancel()
    n_at_cancel = len(seen)
    worker.join(10)
    assert not worker.is_alive()
    assert seen[-1].reason is StopReason.CANCELLED
    assert len(seen) - n_at_cancel <= 2  # at most the step in flight, then TurnEnd


def test_seeded_sampling_is_reproducible(tiny_runner):
    cfg = SamplingConfig(temperature=0.9, top_p=0.95, seed=11, max_text_tokens=10, max_units=20)
    a = _collect(tiny_runner.reply(_conv(), cfg))[1:3]
    b = _collect(tiny_runner.reply(_conv(), cfg))[1:3]
    c = _collect(tiny_runner.reply(_conv(), SamplingConfig(temperature=0.9, top_p=0.95, seed=12,
                                                           max_text_tokens=10, max_units=20)))[1:3]
    assert a == b and a != c


def test_multi_turn_history_goes_into_the_prompt(tiny_runner):
    conv = Conversation()
    conv.add_user_audio(synthetic_clip(1.0))
    conv.add_assistant("I am fine")
    conv.add_user_text("Tell me a story")
    stream = tiny_runner.reply(conv, GREEDY)
    tok = tiny_runner.ckpt.tokenizer
    assert tok.decode([i for i in stream.plan.ids if i >= 0]).count("<|im_start|>assistant") == 2
    assert stream.plan.ids.count(-200) == 1
    assert isinstance(list(stream)[-1], TurnEnd)


def test_overlong_history_drops_oldest_turns_and_overlong_turn_errors(tiny_runner):
    conv = Conversation()
    for i in range(60):
        conv.add_user_text(f"story number {i} " * 20)
        conv.add_assistant("the cat and the dog became friends " * 10)
    conv.add_user_text("and now?")
    stream = tiny_runner.reply(conv, SamplingConfig(greedy=True, max_text_tokens=64, max_units=128))
    assert stream.plan.n_dropped_turns > 0 and stream.plan.turns[0].role == "user"
    assert stream.plan.n_positions <= tiny_runner.ckpt.config.llm.max_position_embeddings - 64
    assert stream.plan.turns[-1].text == "and now?"
    huge = Conversation()
    huge.add_user_text("weather " * 6000)
    with pytest.raises(UserError, match="shorter turn"):
        tiny_runner.reply(huge, GREEDY)


def test_a_lone_turn_may_eat_into_the_reply_budget(tiny_runner):
    context = tiny_runner.ckpt.config.llm.max_position_embeddings
    stream = tiny_runner.reply(_conv(), SamplingConfig(greedy=True, max_text_tokens=context - 5, max_units=4))
    assert stream.plan.n_positions > 5  # over the budget-aware target, under the hard context: still answered
    assert isinstance(list(stream)[-1], TurnEnd)


def test_reply_needs_a_user_turn_last(tiny_runner):
    conv = _conv()
    conv.add_assistant("hi")
    with pytest.raises(UserError, match="must end with a user turn"):
        tiny_runner.reply(conv, GREEDY)


def test_reserved_marker_in_text_is_rejected(tiny_runner):
    with pytest.raises(UserError, match="reserved marker"):
        tiny_runner.reply(_conv("look <|im_audio|> here"), GREEDY)


def test_long_audio_uses_two_encoder_windows(tiny_runner):
    conv = Conversation()
    conv.add_user_audio(synthetic_clip(60.0, seed=2))
    stream = tiny_runner.reply(conv, SamplingConfig(greedy=True, max_text_tokens=2, max_units=4))
    prompt = stream.prompt_embeds()
    # 60 s -> 6000 mel frames -> 2 windows of 750 encoder frames -> 1500 -> 750 -> 375 LLM embeddings
    assert prompt.shape[1] == stream.plan.n_positions
    assert stream.plan.n_positions - (len(stream.plan.ids) - 1) == 375
    assert np.isfinite(prompt.numpy()).all()
