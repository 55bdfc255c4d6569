"""Conversations on disk brought back into the window: the restore offer after a crash or a kill
(app/window/journal.py keeps every turn as it happens) and continuing one from History (ui/history_view.py).

Either way the turns go into the window's log (a superseded one kept for export, not shown) and exactly the
journaled history goes into the model (app/window/journal_replay.py): no superseded turn, an interrupted reply's
heard part only."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

from app.window.journal_replay import Replayed
from app.window.turns import TurnRecord
from ui.conversation_view import ConversationView
from ui.messages import DECLINED, HISTORY_SHORTCUT, STATUS_MESSAGE_MS

log = logging.getLogger(__name__)

RESTORE_TITLE = "Restore the last conversation?"
RESTORE_TEXT = ("The app closed without quitting while a conversation was open. Bring it back (text, labels and "
                f"audio)? No keeps it in History ({HISTORY_SHORTCUT}).")


def show_turn(view: ConversationView, rec: TurnRecord, note: str) -> None:
    """One stored turn as a bubble: text (or its length), the note, Replay when it has audio, its last emotion."""
    bubble = view.bubble(rec.role, rec.turn_id)
    bubble.set_text(rec.text or (f"({rec.audio_s:.1f} s of speech)" if rec.chunks else "(no words)"))
    bubble.set_note(" · ".join(n for n in (note, "interrupted" if rec.interrupted else "") if n))
    bubble.set_replayable(bool(rec.chunks))
    bubble.set_spoken(rec.role == "user" and bool(rec.chunks))
    for label, confidence in rec.emotions[-1:]:
        bubble.set_emotion(label, confidence, True)


def bring_back(win: Any, replayed: Replayed, note: str) -> int:
    """`replayed`'s turns in front of whatever the window holds (a turn already there is kept as it is), shown unless
    superseded, and its history into the model. Returns the number of history turns."""
    at = 0
    for rec in replayed.log.turns:
        if win.conversation_log.find(rec.role, rec.turn_id) is not None:
            continue
        win.conversation_log.insert(at, rec)
        at += 1
        if not rec.superseded:
            show_turn(win.view, rec, note)
    history = [(t.role, t.text, t.audio) for t in replayed.history]
    win.session.restore_history(history, replayed.last_turn_id)
    return len(history)


def take_previous(win: Any) -> Path | None:
    """At start: a conversation the last run left open (a crash or a kill; a clean quit files it in History)."""
    try:
        return win.journal.take_previous()
    except OSError as err:
        log.warning("could not read the last conversation's journal: %s", err)
        return None


def offer_restore(win: Any) -> None:
    """Ask (without blocking the event loop) whether to bring back the last run's conversation."""
    if win.pending_journal is None:
        return
    log.info("offering to restore the last conversation (the app did not quit cleanly)")
    from PySide6.QtWidgets import QMessageBox

    box = QMessageBox(QMessageBox.Icon.Question, RESTORE_TITLE, RESTORE_TEXT,
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, win)
    box.setObjectName("restoreBox")
    box.finished.connect(lambda result: answer_restore(win, result == QMessageBox.StandardButton.Yes))
    win.restore_box = box
    box.open()


def answer_restore(win: Any, restore: bool) -> None:
    """Yes: the pending conversation becomes the start of the current one; No: it is filed in History."""
    pending, win.pending_journal = win.pending_journal, None
    if pending is None:
        return
    try:
        if not restore:
            win.journal.discard(pending)
            win.statusBar().showMessage(DECLINED, STATUS_MESSAGE_MS)
            return
        restored = win.journal.restore(pending)
    except (OSError, ValueError) as err:  # ValueError: UnreadableJournal (a newer format), filed as it is
        with contextlib.suppress(OSError):
            win.journal.discard(pending)
        win.statusBar().showMessage(f"Could not restore the last conversation ({err}).", STATUS_MESSAGE_MS)
        return
    n = bring_back(win, restored, "restored")
    win.statusBar().showMessage(f"Restored {n} turns of the last conversation.", STATUS_MESSAGE_MS)
