"""Conversation → History (issue 34, findings 10 and 12): Ctrl+N keeps the old conversation, the history view
searches, reopens (no superseded turn), replays, exports, continues (the model gets the history back) and deletes;
an empty conversation is not exported; a clean quit offers no restore, a crash does; a returning user gets no
first-run guide. Offscreen, no model: events go through the window's session signal as the engine's would."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
from PySide6.QtWidgets import QMessageBox

from testing.journal_events import spoken, typed
from tests.engine_fakes import FakeAudio
from tests.ui.helpers import FAST_AUDIO, TEST_SETTINGS
from ui.history_view import LOADING_HINT, show_history
from ui.messages import LAST_IN_HISTORY, NEW_FILED, NOTHING_TO_EXPORT


class _Live:
    """Feeds events to the window as its session does (presenter, journal, window)."""

    def __init__(self, win) -> None:
        self.handle = win.session.event.emit


def _crash(win) -> None:
    """What a kill leaves: the engine gone, the journal as written, no clean shutdown."""
    win.session.shutdown()
    win.journal.close()
    win._shut_down = True


def _two_conversations(win) -> None:
    live = _Live(win)
    typed(live, 1, "Tell me about owls", "Owls hunt at night.")
    win.new_conversation()
    spoken(live, 2, "Recipe for", answer="Flour")  # committed early, then continued: turn 2 is superseded
    spoken(live, 3, "Recipe for pancakes please", continues=2, answer="Flour, eggs and milk.")
    win.new_conversation()


def test_ctrl_n_files_the_conversation_in_history_without_asking(qtbot, make_window):
    win = make_window()
    typed(_Live(win), 1, "Remember the blue door", "I will.")
    assert win.view.find("user", 1) is not None
    win.actions_.by_key["new"].trigger()  # Ctrl+N
    assert win.statusBar().currentMessage() == NEW_FILED
    assert not win.findChildren(QMessageBox)  # nothing to confirm: nothing was lost
    assert win.view.bubbles() == [] and win.conversation_log.turns == []
    (entry,) = win.journal.history.entries()
    assert entry.title == "Remember the blue door" and entry.turns == 2
    assert "Ctrl+H" in [a.shortcut().toString() for a in win.actions_.by_key.values()]


def test_search_filters_and_reopening_hides_superseded_turns_and_replays(qtbot, make_window):
    audio = FakeAudio(speed=FAST_AUDIO)
    win = make_window(audio=audio)
    _two_conversations(win)
    win.actions_.by_key["history"].trigger()  # Ctrl+H
    dlg = win.history_dialog
    assert dlg.isVisible() and dlg.list.count() == 2
    assert dlg.list.item(0).text().startswith("Recipe for pancakes please\n")  # newest first, with its date
    assert dlg.list.item(0).text().endswith("· 2 turns")
    dlg.search.setText("OWLS night")
    assert dlg.list.count() == 1 and dlg.selected.title == "Tell me about owls"
    dlg.search.setText("nothing like this")
    assert dlg.list.count() == 0 and not dlg.continue_button.isEnabled()
    dlg.search.setText("")
    dlg.list.setCurrentRow(0)
    keys = {(b.role, b.turn_id) for b in dlg.view.bubbles()}
    assert keys == {("user", 3), ("assistant", 3)}  # the early commit and its cut reply are hidden
    assert dlg.view.find("assistant", 3).plain_text == "Flour, eggs and milk."
    bubble = dlg.view.find("user", 3)
    bubble.replay.click()
    assert win.replay.playing and bubble.replay.text() == "Stop"
    qtbot.waitUntil(lambda: bubble.replay.text() == "Replay", timeout=10_000)  # played to the end
    assert np.abs(audio.speaker.audio()).max() > 0.1


def test_continue_puts_the_history_back_into_the_model_without_the_superseded_turn(qtbot, make_window,
                                                                                   monkeypatch):
    win = make_window()
    _two_conversations(win)
    typed(_Live(win), 4, "A live question", "A live answer.")
    received = []
    restore = win.session.restore_history
    monkeypatch.setattr(win.session, "restore_history", lambda turns, last: received.append((turns, last))
                        or restore(turns, last))
    dlg = show_history(win)
    dlg.list.setCurrentRow(0)
    assert dlg.selected.title.startswith("Recipe for pancakes")
    assert dlg.continue_selected() and not dlg.isVisible()
    ((turns, last),) = received
    assert [(role, text) for role, text, _ in turns] == [("user", ""), ("assistant", "Flour, eggs and milk.")]
    assert turns[0][2].size == int(16000 * 0.5)  # turn 3's audio (the engine's merged capture), not turn 2's too
    assert last == 3
    win.session._control.submit(lambda: None).result(30)
    assert [t.role for t in win.session.conversation.turns] == ["user", "assistant"]
    assert win.view.find("user", 2) is None and win.view.find("user", 3) is not None
    assert win.view.find("user", 4) is None  # the live conversation left the view ...
    titles = sorted(e.title for e in win.journal.history.entries())
    assert titles == ["A live question", "Tell me about owls"]  # ... into the history; the continued one left it
    assert "Continuing" in win.statusBar().currentMessage()
    again = show_history(win)  # the same dialog, listed afresh
    assert again is dlg and again.selected.title == "A live question" and again.list.count() == 2


def test_delete_asks_then_removes_that_conversation_only(qtbot, make_window):
    win = make_window()
    _two_conversations(win)
    keep, gone = (e.path for e in win.journal.history.entries()[::-1])
    dlg = show_history(win)
    dlg.list.setCurrentRow(0)
    box = dlg.ask_delete()
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert gone.is_dir() and dlg.list.count() == 2  # Cancel keeps it
    box = dlg.ask_delete()
    next(b for b in box.buttons() if b.text() == "Delete").click()
    assert not gone.exists() and keep.is_dir() and dlg.list.count() == 1
    assert sorted(p.name for p in gone.parent.iterdir()) == [keep.name]


def test_export_from_history_and_an_empty_conversation_is_refused(qtbot, make_window, tmp_path, monkeypatch):
    win = make_window()
    asked = []
    monkeypatch.setattr(win.exporter, "ask_folder", lambda suggested: asked.append(suggested) or "")
    win.actions_.by_key["export"].trigger()
    assert win.statusBar().currentMessage() == NOTHING_TO_EXPORT and asked == []  # no folder picker
    assert win.export_to(tmp_path / "empty") is None and not (tmp_path / "empty").exists()
    _two_conversations(win)
    out = tmp_path / "owls"
    monkeypatch.setattr(win.exporter, "ask_folder", lambda suggested: asked.append(suggested) or str(out))
    dlg = show_history(win)
    dlg.list.setCurrentRow(1)
    dlg.export_button.click()
    doc = json.loads((out / "conversation.json").read_text())
    assert [t["text"] for t in doc["turns"]] == ["Tell me about owls", "Owls hunt at night."]
    assert doc["meta"]["title"] == "Tell me about owls" and asked[-1].name.startswith("conversation ")


def test_a_clean_quit_offers_no_restore_but_a_crash_does(qtbot, make_window, tmp_path):
    first = make_window()
    typed(_Live(first), 1, "Before a clean quit", "ok")
    first.close()
    second = make_window()
    assert second.pending_journal is None  # nothing to restore ...
    assert second.statusBar().currentMessage() == LAST_IN_HISTORY  # ... it is in History
    assert [e.title for e in second.journal.history.entries()] == ["Before a clean quit"]
    typed(_Live(second), 5, "Before a crash", "ok")
    _crash(second)
    third = make_window()
    assert third.pending_journal is not None
    third.offer_restore()
    assert third.restore_box.isVisible()
    third.restore_box.button(QMessageBox.StandardButton.No).click()
    assert sorted(e.title for e in third.journal.history.entries()) == ["Before a clean quit", "Before a crash"]


def test_a_returning_user_does_not_see_the_first_run_guide(qtbot, make_window, tmp_path):
    fresh = make_window()
    assert fresh.pages.currentWidget() is fresh.welcome and fresh.welcome.title.text().startswith("Welcome to")
    returning = dataclasses.replace(TEST_SETTINGS).with_recent(str(tmp_path / "m"), str(tmp_path / "d"), "My model")
    win = make_window(returning, config_dir=tmp_path / "back")
    assert win.pages.currentWidget() is win.view and win.view.hint.text() == LOADING_HINT  # while it loads
    win._load_failed("The model folder does not exist")  # as the start-up load reports it
    assert win.pages.currentWidget() is win.welcome and win.welcome.title.text() == "Welcome back"
