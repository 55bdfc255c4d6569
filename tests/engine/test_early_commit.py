"""Early commit + continuation through the engine: fake audio backend (real callbacks, real time), real
silero-vad, espeak-ng speech, fake runner/vocoder, and a scripted end-of-turn scorer that calls every pause the
end of the turn. The user goes on after the commit: the reply stops at once, it is clipped to what was heard,
and the continued speech joins the same user turn."""

from __future__ import annotations

import numpy as np
import soxr

from core.engine.config import AudioConfig, EngineConfig
from core.engine.engine import Engine
from core.engine.events import BargeIn, ReplyEnded, UserTurnCaptured
from core.turns.config import EndOfTurnConfig, VadConfig
from core.turns.events import SpeechIgnored
from core.turns.smart_turn import TurnScore
from testing.room import RoomConfig
from tests.engine_fakes import Collector, FakeAudio, FakeConversation, FakeDecoder, FakeRunner, default_script


class AlwaysDone:
    def score(self, samples):
        return TurnScore(0.99, 0.0)


def _engine(barge_in: bool, runner: FakeRunner, room: RoomConfig | None = None):
    audio, events, conv = FakeAudio(room=room), Collector(), FakeConversation()
    duplex = ("speakers" if room is not None else "headphones") if barge_in else "half"
    cfg = EngineConfig(vad=VadConfig(end_silence_ms=700), audio=AudioConfig(prebuffer_ms=60), duplex=duplex,
                       end_of_turn=EndOfTurnConfig(policy="mean", rejoin_ms=2000))  # the scorer alone decides
    eng = Engine(runner, FakeDecoder(), config=cfg, sink=events, audio=audio, conversation=conv,
                 end_of_turn=AlwaysDone())
    return eng, events, audio, conv


def _speech(speech_factory, audio, pause_s: float):
    a, rate = speech_factory("I was thinking")
    b, _ = speech_factory("about going to the beach tomorrow.")
    x = np.concatenate([a, np.zeros(int(pause_s * rate), np.float32), b])
    return soxr.resample(x, rate, audio.in_rate_hz).astype(np.float32)


def _wait_final(events):
    """The last turn of the chain of continuations and its (uninterrupted) reply."""
    events.wait_for(lambda e: isinstance(e, UserTurnCaptured) and e.continues_turn is not None, 30)
    while True:
        last = events.of(UserTurnCaptured)[-1]
        end = events.wait_for(lambda e, i=last.turn_id: isinstance(e, ReplyEnded) and e.turn_id == i, 60)
        if events.of(UserTurnCaptured)[-1] is last and not end.interrupted:
            return last, end


def _check_merged(events, conv, runner):
    turns = events.of(UserTurnCaptured)
    assert len(turns) >= 2 and all(t.reason == "semantic" for t in turns)
    first, last = turns[0], turns[-1]
    for t in turns:  # how each silence was read travels with the turn (the app's inspector shows it)
        eot = t.end_of_turn
        assert eot is not None and eot.policy == "mean" and eot.checks[-1].commit
        assert eot.checks[-1].audio_prob == 0.99 and eot.commit == 0.8
    assert first.continues_turn is None
    # every later turn continued the one before it (a pause inside the second part may commit early again)
    assert [t.continues_turn for t in turns[1:]] == [t.turn_id for t in turns[:-1]]
    # one user turn in the history: the early audio and the continued speech, then the reply to it all
    assert [r for r, _ in conv.turns] == ["user", "assistant"]
    np.testing.assert_array_equal(conv.turns[0][1], last.samples)
    assert last.samples.size > first.samples.size
    np.testing.assert_array_equal(last.samples[: first.samples.size], first.samples)
    assert [r for r, _ in runner.history_at_call[-1]] == ["user"]  # the last reply saw one merged turn
    ends = {e.turn_id: e for e in events.of(ReplyEnded)}
    early, final = ends[first.turn_id], ends[last.turn_id]
    assert early.interrupted and early.heard_text != early.text.strip()  # clipped to what was heard
    assert not final.interrupted


def test_barge_in_mode_continuation_stops_the_reply_and_joins_the_turn(speech_factory):
    runner = FakeRunner(step_s=0.03)
    eng, events, audio, conv = _engine(True, runner)
    eng.start()
    try:
        audio.mic.inject(_speech(speech_factory, audio, 0.6))
        _wait_final(events)
        assert events.of(BargeIn)  # the early reply was stopped the barge-in way
        _check_merged(events, conv, runner)
    finally:
        eng.stop()
    assert events.of(UserTurnCaptured)[-1].continues_turn is not None  # it says which turn it replaces


def test_on_speakers_the_continuation_is_heard_through_the_reply_echo_and_joins_the_turn(speech_factory):
    runner = FakeRunner(step_s=0.03)
    room = RoomConfig(delay_ms=60.0, rt60_s=0.3, echo_gain_db=0.0, noise_db=-45.0, seed=3)
    eng, events, audio, conv = _engine(True, runner, room)
    eng.start()
    try:
        audio.mic.inject(_speech(speech_factory, audio, 0.6))
        _wait_final(events)
        assert eng.duplex.value == "speakers" and events.of(BargeIn)
        _check_merged(events, conv, runner)
    finally:
        eng.stop()


def test_half_duplex_hears_the_continuation_while_nothing_plays(speech_factory):
    runner = FakeRunner(default_script(words=3), step_s=0.6)  # first audio after 1.2 s: the user goes on first
    eng, events, audio, conv = _engine(False, runner)
    eng.start()
    try:
        audio.mic.inject(_speech(speech_factory, audio, 0.5))
        _wait_final(events)
        _check_merged(events, conv, runner)
        assert events.of(ReplyEnded)[0].played_s == 0.0  # nothing of the early reply played
    finally:
        eng.stop()


def test_half_duplex_speech_while_talking_is_reported(speech_factory):
    runner = FakeRunner(step_s=0.01)
    eng, events, audio, conv = _engine(False, runner)
    eng.start()
    try:
        x = _speech(speech_factory, audio, 0.0)
        audio.mic.inject(x[: x.size // 3])
        events.wait_for(lambda e: isinstance(e, UserTurnCaptured), 20)
        events.wait_for(lambda e: e.__class__.__name__ == "StateChanged" and e.new.value == "speaking", 20)
        audio.mic.inject(x)  # the user talks over the reply: muted, so it must be reported
        ev = events.wait_for(lambda e: isinstance(e, SpeechIgnored), 20)
        assert ev.speech_ms >= eng.config.barge_in_ms
    finally:
        eng.stop()
