"""The journal is faithful (issue 31, findings 5 and 16): an engine session journaled as the window journals it,
then restored into a fresh window, gives the model exactly the history the engine ended with; after a crash the
restored reply is the part that had been heard, not the whole computed reply."""

from __future__ import annotations

import time

import numpy as np

from app.window.journal import ConversationJournal
from core.engine.config import EngineConfig
from core.engine.engine import Engine
from core.engine.events import EngineState, ReplyEnded, StateChanged, UserTurnCaptured
from core.lm.conversation import Conversation
from core.turns.vad import Turn
from tests.engine_fakes import Collector, FakeAudio, FakeDecoder, FakeRunner, default_script

SPEED = 4.0  # the fake devices run this much faster than real time


class _NoVad:
    def prob(self, frame) -> float:
        return 0.0

    def reset(self) -> None:
        pass


def _speech(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


class _Session:
    """An engine whose events go to a collector and, while `live`, to a journal in `data` (the window's)."""

    def __init__(self, data, runner: FakeRunner, speed: float) -> None:
        self.events, self.conv = Collector(), Conversation()
        self.journal = ConversationJournal(data, clock=lambda: time.monotonic() * speed)
        self.live = True
        self.engine = Engine(runner, FakeDecoder(), config=EngineConfig(), sink=self._sink,
                             audio=FakeAudio(speed=speed), conversation=self.conv, vad=_NoVad())

    def _sink(self, ev) -> None:
        self.events(ev)
        if self.live:
            self.journal.handle(ev)

    def speaking(self, count: int) -> None:
        self.events.wait_for(lambda _e: len([e for e in self.events.of(StateChanged)
                                             if e.new is EngineState.SPEAKING]) >= count, 30)

    def ended(self, turn_id: int) -> ReplyEnded:
        return self.events.wait_for(lambda e: isinstance(e, ReplyEnded) and e.turn_id == turn_id, 30)

    def control(self, fn, *args):
        return self.engine._control.call(fn, *args)


def _restore_into_window(qtbot, make_window):
    win = make_window()
    assert win.pending_journal is not None
    win.answer_restore(True)
    win.session._control.submit(lambda: None).result(30)  # restore_history ran on the control thread
    return win


def _shape(turns) -> list[tuple]:
    return [(t.role, t.text, None if t.audio is None else int(t.audio.size)) for t in turns]


def test_a_restored_session_has_exactly_the_engine_history(qtbot, make_window, tmp_path):
    """An early commit the user went on with (superseded), a barge-in and a typed turn."""
    s = _Session(tmp_path / "data", FakeRunner(default_script(words=6), step_s=0.01), SPEED)
    replies = s.engine._replies
    with s.engine:
        s.control(replies.on_turn, Turn(_speech(0.8, 1), 0, 0, 0, "semantic"), None)  # committed early
        s.speaking(1)
        s.control(replies.on_continued)  # ... but the user goes on: its reply stops at once
        s.control(replies.on_turn, Turn(_speech(0.6, 2), 0, 0, 0, "semantic", continues=True), None)
        s.ended(2)
        s.engine.submit_turn(_speech(0.7, 3))
        s.speaking(3)
        s.engine.interrupt()  # a barge-in (the stop button takes the same path)
        s.ended(3)
        s.engine.submit_text("And now typed.")
        s.ended(4)
    s.journal.close()
    captured = s.events.of(UserTurnCaptured)
    assert captured[1].continues_turn == 1 and s.ended(1).interrupted and s.ended(3).interrupted
    expected = _shape(s.conv.turns)
    assert [r for r, *_ in expected] == ["user", "assistant"] * 3  # turn 1 left the history
    assert expected[0][2] == int(_speech(0.8, 1).size + _speech(0.6, 2).size)  # one merged user turn

    win = _restore_into_window(qtbot, make_window)
    assert _shape(win.session.conversation.turns) == expected
    # the superseded turn is kept in the log (export) but not shown
    assert win.conversation_log.find("user", 1).superseded and win.view.find("user", 1) is None
    assert win.view.find("user", 2) is not None


def test_after_a_crash_the_restored_reply_is_what_was_heard(qtbot, make_window, tmp_path):
    s = _Session(tmp_path / "data", FakeRunner(default_script(words=30), step_s=0.005), 1.0)  # a 12 s reply
    with s.engine:
        s.engine.submit_text("Tell me a long story.")
        s.speaking(1)
        time.sleep(1.5)  # 1.5 s of it is heard, then the app is killed: the journal gets nothing more
        s.live = False
        s.journal.close()
    end = s.ended(1)
    full = end.text.strip()

    win = _restore_into_window(qtbot, make_window)
    history = win.session.conversation.turns
    assert [t.role for t in history] == ["user", "assistant"]
    restored = history[1].text
    assert restored and len(restored) < len(full) / 2, (restored, full)  # not the whole computed reply
    assert end.heard_text.startswith(restored)  # a prefix of what had been heard by the (later) stop
    assert win.conversation_log.find("assistant", 1).interrupted
