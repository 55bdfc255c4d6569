"""Speculative turn start through the engine: fake audio backend (real callbacks, real time), real silero-vad,
espeak-ng speech, fake runner/vocoder. The reply starts on a short pause and is adopted when the turn ends, or
dropped unseen and unheard when the user goes on."""

from __future__ import annotations

import numpy as np
import soxr

from core.engine.events import ReplyAudio, ReplyEnded, ReplyText, UserTurnCaptured
from core.turns.config import VadConfig
from tests.engine_fakes import FakeAudio, FakeRunner


def _mic(audio: FakeAudio, x: np.ndarray, rate: int) -> np.ndarray:
    return soxr.resample(x, rate, audio.in_rate_hz).astype(np.float32)


def _reply_events_after_turn(events, tid: int) -> None:
    """Nothing of the reply reached the sink before its user turn did."""
    seen_turn = False
    for e in events.events:
        if isinstance(e, UserTurnCaptured) and e.turn_id == tid:
            seen_turn = True
        if isinstance(e, (ReplyText, ReplyAudio, ReplyEnded)):
            assert seen_turn and e.turn_id == tid


def test_reply_computed_during_the_pause_and_adopted(rig, speech_factory):
    vad = VadConfig(end_silence_ms=700, speculate_after_ms=250)
    eng, events, audio, runner, conv = rig(vad=vad)
    eng.start()
    x, rate = speech_factory("Tell me something nice about the weather.")
    audio.mic.inject(_mic(audio, x, rate))
    end = events.wait_for(lambda e: isinstance(e, ReplyEnded), 20)
    turn = events.of(UserTurnCaptured)[0]
    t = end.timing
    assert len(runner.streams) == 1  # the speculative reply is the reply: computed once
    assert t.speculated_t is not None and 0.3 < t.dispatched_t - t.speculated_t < 0.6  # 700 - 256 ms head start
    assert t.first_audio_t < t.dispatched_t  # the first audio existed before the turn ended ...
    assert t.first_play_t - t.dispatched_t < 0.2  # ... so playback starts right after it (prebuffer, callback)
    _reply_events_after_turn(events, turn.turn_id)
    assert not end.interrupted and end.heard_text == end.text.strip()
    # the history holds the dispatched audio (the very samples the reply answered) and the reply
    assert [r for r, _ in conv.turns] == ["user", "assistant"]
    np.testing.assert_array_equal(conv.turns[0][1], turn.samples)
    np.testing.assert_array_equal(runner.history_at_call[0][0][1], turn.samples)


def test_user_goes_on_after_a_pause_speculation_dropped(rig, speech_factory):
    vad = VadConfig(end_silence_ms=1200, speculate_after_ms=250)
    eng, events, audio, runner, conv = rig(vad=vad, runner=FakeRunner(step_s=0.03))
    eng.start()
    a, rate = speech_factory("I was thinking")
    b, _ = speech_factory("about going to the beach tomorrow.")
    pause = np.zeros(int(0.6 * rate), np.float32)  # > speculate_after_ms, < end_silence_ms
    audio.mic.inject(_mic(audio, np.concatenate([a, pause, b]), rate))
    end = events.wait_for(lambda e: isinstance(e, ReplyEnded), 30)
    turns = events.of(UserTurnCaptured)
    assert len(turns) == 1 and len(events.of(ReplyEnded)) == 1
    # two replies were started: one on "I was thinking" (dropped, cancelled), one on the whole turn
    assert len(runner.streams) == 2 and runner.streams[0].cancelled_t is not None
    dropped_audio, final_audio = runner.history_at_call[0][-1][1], runner.history_at_call[1][-1][1]
    assert dropped_audio.size < final_audio.size
    np.testing.assert_array_equal(final_audio, turns[0].samples)
    # nothing of the dropped reply was shown or played: one reply's text and audio, after its turn
    _reply_events_after_turn(events, turns[0].turn_id)
    words = "".join(e.delta.text for e in events.of(ReplyText))
    assert words.split() == end.text.split()
    assert abs(end.played_s - 30 / 12.5) < 0.05 and end.underruns == 0
    assert [r for r, _ in conv.turns] == ["user", "assistant"]


def test_speculation_off(rig, speech_factory):
    eng, events, audio, runner, conv = rig(vad=VadConfig(end_silence_ms=500, speculate_after_ms=None))
    eng.start()
    x, rate = speech_factory("Hello there.")
    audio.mic.inject(_mic(audio, x, rate))
    end = events.wait_for(lambda e: isinstance(e, ReplyEnded), 20)
    assert end.timing.speculated_t is None and len(runner.streams) == 1
    assert end.timing.dispatched_t <= end.timing.first_units_t
