"""The listeners wired into the realtime engine: a spoken turn gets a transcript and emotion labels, in order, and
none of the listener work starts before the reply's first audio exists."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import soxr

from core.engine.config import AudioConfig, EngineConfig
from core.engine.engine import Engine
from core.engine.events import ReplyAudio, ReplyEnded, UserTurnCaptured
from core.listeners import Listeners
from core.listeners.bridge import ListenerBridge
from core.listeners.events import TurnEmotion, UserTranscript
from core.turns.config import VadConfig
from models.listeners.tiny import write_tiny_listeners
from tests.engine_fakes import FakeAudio, FakeConversation, FakeDecoder, FakeRunner, default_script
from tests.listeners.helpers import tiny_config


class Timeline:
    """Every engine and listener event with its arrival time, from any thread."""

    def __init__(self) -> None:
        self.items: list[tuple[float, object]] = []
        self._cond = threading.Condition()

    def __call__(self, ev: object) -> None:
        with self._cond:
            self.items.append((time.perf_counter(), ev))
            self._cond.notify_all()

    def wait_for(self, pred, timeout_s: float) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: any(pred(e) for _, e in self.items), timeout_s), "timed out"

    def first(self, pred) -> float:
        return next(t for t, e in self.items if pred(e))


@pytest.fixture(scope="module")
def listener_paths(tmp_path_factory):
    return write_tiny_listeners(tmp_path_factory.mktemp("listeners"))


def test_spoken_turn_gets_transcript_and_emotions_after_first_audio(listener_paths, speech_factory):
    timeline = Timeline()
    listeners = Listeners(tiny_config(listener_paths, hold_until_first_audio=True), emit=timeline)
    bridge = ListenerBridge(lambda: listeners)

    def sink(ev):
        timeline(ev)
        bridge.on_event(ev)

    audio = FakeAudio()
    cfg = EngineConfig(vad=VadConfig(end_silence_ms=500), audio=AudioConfig(prebuffer_ms=60))
    engine = Engine(FakeRunner(default_script(words=30)), FakeDecoder(), config=cfg, sink=sink, audio=audio,
                    conversation=FakeConversation())
    try:
        engine.start()
        x, rate = speech_factory("Hello there, how are you doing today?")
        audio.mic.inject(soxr.resample(x, rate, audio.in_rate_hz).astype(np.float32))
        timeline.wait_for(lambda e: isinstance(e, ReplyEnded), 30)
        timeline.wait_for(lambda e: isinstance(e, TurnEmotion) and e.emotion.source == "assistant" and e.is_final, 30)
        timeline.wait_for(lambda e: isinstance(e, UserTranscript) and e.is_final, 30)
        timeline.wait_for(lambda e: isinstance(e, TurnEmotion) and e.emotion.source == "user", 30)
    finally:
        engine.stop()
        listeners.close()
    turn = next(e for _, e in timeline.items if isinstance(e, UserTurnCaptured))
    listener_events = [(t, e) for t, e in timeline.items if isinstance(e, UserTranscript | TurnEmotion)]
    assert all(e.turn_id == turn.turn_id for _, e in listener_events)
    first_audio_t = timeline.first(lambda e: isinstance(e, ReplyAudio))
    # the hold: no listener result (so no listener compute) before the reply's first audio chunk; and the first
    # audio really releases it (the reply lasts 12 s, the hold's own timeout is 3 s)
    assert first_audio_t < min(t for t, _ in listener_events) < first_audio_t + 2.0
    finals = [e for _, e in listener_events if isinstance(e, UserTranscript) and e.is_final]
    assert len(finals) == 1
    user_emotions = [e.emotion for _, e in listener_events if isinstance(e, TurnEmotion) and e.emotion.source == "user"]
    labels = set(listeners.status()["user_emotion"].labels)
    assert user_emotions and all(em.label in labels and 0 <= em.confidence <= 1 for em in user_emotions)
    reply_end_t = timeline.first(lambda e: isinstance(e, ReplyEnded))
    final_assistant_t = timeline.first(lambda e: isinstance(e, TurnEmotion) and e.emotion.source == "assistant"
                                       and e.is_final)
    assert final_assistant_t > reply_end_t
