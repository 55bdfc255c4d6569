"""Reliability of the window (issue 19): turn ids across engine rebuilds (3), model-load failures (5), export
errors (8), push-to-talk limits (13), the crash-safe journal and its restore (7), a corrupt settings file."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from app.window.journal import ConversationJournal, read_journal
from app.window.model_loader import LoadRequest
from core.engine.events import EngineError, UserTurnCaptured
from tests.ui.helpers import (
    WAIT_MS,
    load_into,
    speech_at,
)


def _say_typed(qtbot, win, text: str) -> None:
    with qtbot.waitSignal(win.presenter.reply_ended, timeout=WAIT_MS):
        win.controls.entry.setText(text)
        win.controls.send.click()
    qtbot.waitUntil(lambda: win.strip.state_name == "listening", timeout=WAIT_MS)


# -- finding 3 ------------------------------------------------------------------------------------------------------
def test_turn_ids_continue_after_settings_rebuild_the_engine(qtbot, make_window, tiny_models):
    win = make_window()
    load_into(qtbot, win, tiny_models)
    _say_typed(qtbot, win, "First")
    win.update_settings(dataclasses.replace(win.settings, temperature=0.9), restart_engine=True)
    qtbot.waitUntil(lambda: win.session.engine.state.value == "listening", timeout=WAIT_MS)
    _say_typed(qtbot, win, "Second")
    keys = [r.key for r in win.conversation_log.turns]
    assert keys == [("user", 1), ("assistant", 1), ("user", 2), ("assistant", 2)], keys
    assert win.conversation_log.find("user", 2).text == "Second"


# -- finding 5 ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("error", [ZeroDivisionError("integer division or modulo by zero"),
                                   OverflowError("cannot convert float infinity to integer"),
                                   MemoryError()])
def test_any_load_failure_is_reported_and_the_next_load_runs(qtbot, make_window, tiny_models, error):
    win = make_window()

    def broken(*_):
        raise error

    with qtbot.waitSignal(win.load_failed, timeout=WAIT_MS) as failed:
        win.load(LoadRequest("/x", "/y", "bad"), load_fn=broken)
    assert "\n" not in failed.args[0] and (type(error).__name__ in failed.args[0] or "memory" in failed.args[0])
    load_into(qtbot, win, tiny_models)  # not "A model is already loading."


def test_a_failed_settings_save_still_enables_the_controls(qtbot, make_window, tiny_models, monkeypatch):
    win = make_window()

    def full_disk(_settings):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(win.store, "save", full_disk)
    load_into(qtbot, win, tiny_models)
    assert win.controls.send.isEnabled() and "could not be saved" in win.statusBar().currentMessage()


# -- finding 8 ------------------------------------------------------------------------------------------------------
def test_an_export_write_error_is_shown_not_raised(qtbot, make_window, tmp_path, monkeypatch):
    import app.window.turns

    win = make_window()
    rec = win.conversation_log.get_or_add("user", 1)
    rec.chunks, rec.sample_rate_hz = [np.full(1600, 0.1, np.float32)], 16000

    def full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(app.window.turns, "write_text_durably", full)
    monkeypatch.setattr(win, "last_error_box", None)
    assert win.export_to(tmp_path / "out") is None
    assert "No space left" in win.statusBar().currentMessage() and win.last_error_box is not None
    assert list((tmp_path / "out").iterdir()) == []


# -- finding 13 -----------------------------------------------------------------------------------------------------
def test_push_to_talk_obeys_the_turn_cap(qtbot, make_window, tiny_models, speech_factory):
    win = make_window()
    load_into(qtbot, win, tiny_models)
    win.controls.mode.setCurrentIndex(1)
    win.session.talk_vad.max_turn_s = 1.0
    errors: list[EngineError] = []
    turns: list[UserTurnCaptured] = []
    win.session.event.connect(lambda ev: errors.append(ev) if isinstance(ev, EngineError) else None)
    win.session.event.connect(lambda ev: turns.append(ev) if isinstance(ev, UserTurnCaptured) else None)
    audio = win.session.audio
    win.controls.talk.pressed.emit()
    audio.mic.inject(speech_at(speech_factory, "This is a long push to talk turn that goes on", audio.in_rate_hz))
    qtbot.waitUntil(lambda: bool(turns), timeout=WAIT_MS)  # submitted at the cap, the key still held
    assert 0.9 <= turns[0].samples.size / 16000 <= 1.2
    assert any("maximum" in e.message for e in errors)
    n_errors = len(errors)
    win.controls.talk.released.emit()
    qtbot.wait(300)
    assert len(errors) == n_errors  # no "Hold the talk button" after the capped turn


def test_losing_focus_while_the_talk_key_is_held_ends_the_turn(qtbot, make_window, tiny_models, monkeypatch):
    from PySide6.QtCore import QEvent, Qt

    win = make_window()
    load_into(qtbot, win, tiny_models)
    qtbot.keyPress(win, Qt.Key.Key_F2)
    assert win.session.talk_vad.recording
    monkeypatch.setattr(win, "isActiveWindow", lambda: False)
    win.changeEvent(QEvent(QEvent.Type.ActivationChange))  # the F2 release went to another window
    assert not win.session.talk_vad.recording and not win.session.talk_vad.push_to_talk
    assert not win.controls.talk.isDown()


# -- finding 7 and the journal --------------------------------------------------------------------------------------
def test_the_journal_has_every_turn_before_the_window_closes(qtbot, make_window, tiny_models, tmp_path):
    win = make_window()
    load_into(qtbot, win, tiny_models)
    _say_typed(qtbot, win, "Remember me")
    # no shutdown yet (a crash or kill would come here): the journal already holds text and audio
    saved = read_journal(tmp_path / "data" / "journal" / "current")
    live = win.conversation_log
    assert [r.key for r in saved.turns] == [r.key for r in live.turns]
    assert saved.find("user", 1).text == "Remember me"
    reply, live_reply = saved.find("assistant", 1), live.find("assistant", 1)
    assert reply.text == live_reply.text and reply.heard_text == live_reply.heard_text
    assert np.array_equal(reply.audio(), live_reply.audio()) and reply.sample_rate_hz == 22050


def test_the_next_start_offers_the_last_conversation(qtbot, make_window, tiny_models, tmp_path):
    first = make_window()
    load_into(qtbot, first, tiny_models)
    _say_typed(qtbot, first, "Before the crash")
    text = first.conversation_log.find("assistant", 1).text
    first.session.shutdown()  # a crash or a kill: no clean quit, which would file it in the history
    first.journal.close()
    first._shut_down = True

    second = make_window()
    assert second.pending_journal is not None
    second.offer_restore()
    assert second.restore_box.isVisible()
    second.restore_box.button(second.restore_box.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: len(second.conversation_log.turns) == 2, timeout=WAIT_MS)
    assert second.conversation_log.find("assistant", 1).text == text
    assert second.view.find("user", 1).note.text() == "restored"
    load_into(qtbot, second, tiny_models)
    qtbot.waitUntil(lambda: len(second.session.conversation.turns) == 2, timeout=WAIT_MS)  # the model's history too
    _say_typed(qtbot, second, "After the crash")
    assert [r.turn_id for r in second.conversation_log.turns] == [1, 1, 2, 2]
    # the restored turns stay journaled in front of the new ones
    again = read_journal(tmp_path / "data" / "journal" / "current")
    assert [r.key for r in again.turns] == [r.key for r in second.conversation_log.turns]


def test_a_torn_journal_line_and_a_partial_sample_are_skipped(tmp_path):
    journal = ConversationJournal(tmp_path)
    journal._append({"op": "user_text", "turn_id": 1, "text": "hi"})
    journal._append({"op": "audio", "role": "assistant", "turn_id": 1, "rate_hz": 22050})
    journal.close()
    (journal.dir / "assistant_0001.f32").write_bytes(np.ones(10, "<f4").tobytes() + b"\x00\x01")
    with open(journal.dir / "journal.jsonl", "a") as f:
        f.write('{"op": "reply_text", "turn_id": 1, "te')  # killed mid-line
    log = read_journal(journal.dir)
    assert log.find("user", 1).text == "hi" and log.find("assistant", 1).audio().size == 10


# -- the settings file ----------------------------------------------------------------------------------------------
def test_a_corrupt_settings_file_is_named_in_the_status_bar(qtbot, make_window, tmp_path):
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.json").write_text('{"show_emotion": tru')
    win = make_window(config_dir=config)
    assert "settings file was unreadable" in win.statusBar().currentMessage()
    assert (config / "settings.json.bad").read_text() == '{"show_emotion": tru'
