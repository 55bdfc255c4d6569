"""Issue 34, the window's polish (findings 4, 5, 7, 8, 9, 11, 14): settings that fit a 768 px screen and speak the
dialog's own labels, cleaned notes, no empty bubble after a stop while thinking, a layout that holds at 640x500,
a checkpoint dialog that keeps what was typed, and listener lines that never wrap mid-phrase. All offscreen, no
model: events are fed to the presenter as the engine would send them."""

from __future__ import annotations

from core.engine.events import BargeIn, EngineState, ReplyEnded, ReplyText, StateChanged, UserTextSubmitted
from core.listeners.events import EmotionLabel, TurnEmotion
from core.lm.events import StopReason, TextDelta


def _ended(turn_id: int, text: str, heard: str, played_s: float) -> ReplyEnded:
    return ReplyEnded(turn_id, StopReason.CANCELLED, text, heard, True, played_s, played_s, 0)


# 7 -----------------------------------------------------------------------------------------------------------------
def test_interrupted_note_is_cleaned_like_the_bubble_body(make_window):
    win = make_window()
    p = win.presenter
    p.handle(UserTextSubmitted(1, "hello"))
    p.handle(ReplyText(1, TextDelta("Hel\ufffdlo\x07 there", (1,))))
    p.handle(_ended(1, "Hel\ufffdlo\x07 there and more", "Hel\ufffdlo\x07", 0.8))
    bubble = win.view.find("assistant", 1)
    assert bubble.plain_text == "Hello there"
    assert bubble.note.text() == "interrupted — heard: “Hello”"
    p.handle(UserTextSubmitted(2, "again"))
    p.handle(ReplyText(2, TextDelta("\ufffd\ufffd\x01", (2,))))
    p.handle(_ended(2, "\ufffd\ufffd\x01", "\ufffd\ufffd", 0.4))
    assert win.view.find("assistant", 2).note.text() == "interrupted — heard: “(nothing readable)”"


# 11 ----------------------------------------------------------------------------------------------------------------
def test_stop_while_thinking_leaves_no_empty_bubble_and_no_emotion_chip(qtbot, make_window):
    win = make_window()
    p = win.presenter
    p.handle(UserTextSubmitted(1, "tell me a story"))
    p.handle(StateChanged(EngineState.LISTENING, EngineState.THINKING, "turn_captured"))
    p.handle(ReplyText(1, TextDelta("\x03\ufffd", (5,))))  # a demo's first unreadable token, nothing played
    p.handle(BargeIn(1, 0.0, None))  # Esc
    p.handle(_ended(1, "\x03\ufffd", "", 0.0))
    p.handle(TurnEmotion(1, EmotionLabel("assistant", "neutral", 0.6), is_final=True))  # the listener's late label
    qtbot.wait(10)  # deleteLater
    assert win.view.find("assistant", 1) is None
    assert all(b.role == "user" for b in win.view.bubbles())
    assert win.view.find("user", 1).note.text() == "typed · reply stopped"
    # the record is kept (export, journal); only the empty bubble is gone
    assert win.conversation_log.find("assistant", 1).interrupted
    # a stop before any sound, but after readable text: the text stays, said to be stopped, not "heard"
    p.handle(UserTextSubmitted(2, "again"))
    p.handle(ReplyText(2, TextDelta("Once upon", (6,))))
    p.handle(BargeIn(2, 0.0, None))
    p.handle(_ended(2, "Once upon", "", 0.0))
    assert win.view.find("assistant", 2).note.text() == "stopped before it spoke"
