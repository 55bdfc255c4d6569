"""View → What the app heard…: offscreen, fed synthetic session events (testing/inspector_events.py): the turn list,
the why-sentence and timings of the selected turn, the plot's data (not its pixels), live updates, and the window's
menu entry and shortcut."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence

from app.window.inspector_data import ONSET
from core.engine.events import ReplyEnded
from testing.inspector_events import reply_end, session_events, spoken
from ui.inspector import Inspector


class FakeSession(QObject):
    event = Signal(object)


@pytest.fixture
def inspector(qtbot):
    from PySide6.QtWidgets import QWidget

    host = QWidget()
    qtbot.addWidget(host)
    session = FakeSession()
    return Inspector(host, session), session


def test_the_inspector_lists_a_semantic_and_a_silence_commit_with_why_timings_and_plot_points(inspector, qtbot):
    insp, session = inspector
    for ev in session_events():
        session.event.emit(ev)
    dlg = insp.show()
    qtbot.waitExposed(dlg)
    assert dlg.turn_list.count() == 4 and dlg.selected_id() == 4  # the newest turn is shown first
    assert dlg.turn_list.item(0).text().startswith("#1  semantic · sound +810 ms\nTell me a long story")

    dlg.select(1)
    assert dlg.decision.text() == "Turn 1: ended by the end-of-turn model"
    assert dlg.why.text() == "Score 0.82 ≥ commit 0.70 after 384 ms of silence."
    rows = dict(dlg.timing_rows())
    assert rows["decision (turn dispatched)"] == "390" and rows["first text"] == "520"
    assert rows["first sound"] == "810" and rows["speculative reply started"] == "100"
    s = dlg.plot.series
    assert s.audio == ((96, 0.31), (192, 0.58), (288, 0.79), (384, 0.88))
    assert s.text == ((192, 0.64), (288, 0.83), (384, 0.9))  # the first call had no transcript yet
    assert [y for _, y in s.evidence] == [0.22, 0.47, 0.66, 0.82]
    assert (s.commit, s.hold, s.decision, s.evidence_label) == (0.7, None, (384.0, 0.82), "score")

    dlg.select(2)
    assert dlg.decision.text() == "Turn 2: ended by the silence"
    assert dlg.why.text().startswith("Silence reached max_silence_ms 1152 ms: the score stayed at 0.41")
    assert len(dlg.plot.series.evidence) == 11 and dlg.plot.series.decision == (1152.0, 0.41)
    rows = dlg.timing_rows()
    assert (ONSET, "4100") in rows and ("reply resumed (a 224 ms backchannel)", "4710") in rows
    assert "Reply: played out (9.8 s)." in dlg.detail.text()

    dlg.select(4)
    assert dlg.plot.series is None and "not ended by listening" in dlg.plot.note
    assert dlg.table.horizontalHeaderItem(1).text() == "ms after dispatch"
    dlg.plot.grab()  # paints both ways without error
    dlg.select(1)
    dlg.plot.grab()


def test_turns_appear_live_and_the_list_follows_the_newest_only_while_the_newest_is_shown(inspector, qtbot):
    insp, session = inspector
    dlg = insp.show()
    assert dlg.turn_list.count() == 0 and dlg.decision.text().startswith("No turn yet")
    first = next(e for e in session_events() if getattr(e, "turn_id", None) == 1)
    session.event.emit(first)
    assert dlg.selected_id() == 1 and dict(dlg.timing_rows())["first sound"] == "—"
    end = next(e for e in session_events() if isinstance(e, ReplyEnded) and e.turn_id == 1)
    session.event.emit(end)
    assert dict(dlg.timing_rows())["first sound"] == "810"  # the shown turn updated in place
    assert "sound +810 ms" in dlg.turn_list.item(0).text()
    session.event.emit(spoken(2, 10.0, 288, "semantic", first.end_of_turn))
    assert dlg.selected_id() == 2  # the newest was shown: follow
    dlg.select(1)
    session.event.emit(spoken(3, 20.0, 288, "semantic", first.end_of_turn))
    session.event.emit(reply_end(3, end.timing, 1.0))
    assert dlg.turn_list.count() == 3 and dlg.selected_id() == 1  # a tester reading turn 1 keeps reading it


def test_view_menu_opens_the_inspector_with_ctrl_i_and_it_has_heard_the_session_from_the_start(make_window, qtbot):
    win = make_window()
    action = win.actions_.inspector
    assert action.shortcut() == QKeySequence("Ctrl+I") and action.text() == "What the app &heard…"
    assert win.inspector.dialog is None  # off by default: nothing is made until asked for
    assert ("Ctrl+I", "What the app heard…") in win.actions_.shortcut_rows()
    for ev in session_events()[:3]:
        win.session.event.emit(ev)
    combo = action.shortcut()[0]
    override = QKeyEvent(QEvent.Type.ShortcutOverride, combo.key(), combo.keyboardModifiers())
    win.controls.entry.event(override)
    assert not override.isAccepted()  # the text box hands Ctrl+I to the window
    action.trigger()
    dlg = win.inspector.dialog
    qtbot.waitExposed(dlg)
    assert dlg.isVisible() and not dlg.isModal() and dlg.turn_list.count() == 1
    assert dlg.why.text() == "Score 0.82 ≥ commit 0.70 after 384 ms of silence."
