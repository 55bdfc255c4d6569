"""Conversation → History (Ctrl+H): past conversations to search, read, replay, export, continue or delete.

The list comes from the journal's archive (`app/window/history.py`): newest first, with the first words the user
said, the date and the number of turns; the search box keeps the conversations whose turns hold every word typed.
The selected one is shown read-only (its superseded turns hidden, as the live view hides them); Replay plays a
turn through the window's replay player. Continue makes it the current conversation: the live one is filed first,
its turns fill the main view and its journaled history goes back into the model (`Session.restore_history`).
Delete asks, then removes that one folder.

`install_history(window)` also decides what a returning user sees at start (finding 12): no first-run guide while the
last model loads, and a line saying where the last conversation went.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
)

from app.window.history import ConversationEntry
from app.window.journal_replay import Replayed
from app.window.turns import ConversationLog
from ui.conversation_view import EMPTY_HINT, ConversationView
from ui.messages import HISTORY_SHORTCUT, LAST_IN_HISTORY, STATUS_MESSAGE_MS
from ui.window_journal import bring_back, show_turn

log = logging.getLogger(__name__)

LOADING_HINT = f"Loading your last model…\nYour past conversations are in History ({HISTORY_SHORTCUT})."
NO_HISTORY = "No past conversations yet.\nNew conversation (Ctrl+N) and quitting file the current one here."
DATE_FORMAT = "%a %d %b %Y, %H:%M"
DIALOG_SIZE = (980, 620)
LIST_WIDTH_PX = 300


def has_turns(conversation: ConversationLog) -> bool:
    """Something worth exporting: a turn that is shown (superseded ones are not)."""
    return any(not r.superseded for r in conversation.turns)


def when(entry: ConversationEntry) -> str:
    return time.strftime(DATE_FORMAT, time.localtime(entry.started))


class HistoryDialog(QDialog):
    """Not modal: the window keeps working beside it. `entries` are the ones listed (after the search)."""

    def __init__(self, win: Any) -> None:
        super().__init__(win)
        self.win, self.history = win, win.journal.history
        self.setWindowTitle("Conversation history")
        self.setObjectName("historyDialog")
        self.entries: list[ConversationEntry] = []
        self.shown: Replayed | None = None
        self.confirm_box: QMessageBox | None = None
        self._build()
        self.refresh()

    def _build(self) -> None:
        lay = QHBoxLayout(self)
        left = QVBoxLayout()
        self.search = QLineEdit(placeholderText="Search every turn…", objectName="historySearch")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _t: self.refresh())
        self.list = QListWidget(objectName="historyList")
        self.list.setFixedWidth(LIST_WIDTH_PX)
        self.list.setWordWrap(True)
        self.list.currentRowChanged.connect(self._selected_row)
        left.addWidget(self.search)
        left.addWidget(self.list, 1)
        right = QVBoxLayout()
        self.heading = QLabel("", objectName="historyHeading")
        self.heading.setWordWrap(True)
        self.view = ConversationView()
        self.view.hint.setText(NO_HISTORY)
        self.view.set_show_emotion(self.win.settings.show_emotion)
        self.view.replay_requested.connect(self.replay_turn)
        buttons = QHBoxLayout()
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Write conversation.json and the turns' WAV files into a new folder")
        self.export_button.clicked.connect(self.export_selected)
        self.delete_button = QPushButton("Delete…", objectName="deleteButton")
        self.delete_button.setToolTip("Remove this conversation for good (asks first)")
        self.delete_button.clicked.connect(self.ask_delete)
        self.continue_button = QPushButton("Continue this conversation", objectName="primaryButton")
        self.continue_button.setToolTip("Make it the current conversation: the model hears it all again; the one "
                                        "open now is kept here")
        self.continue_button.clicked.connect(self.continue_selected)
        self.continue_button.setDefault(True)  # Enter continues the selected conversation
        for b in (self.delete_button, self.export_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.continue_button)
        right.addWidget(self.heading)
        right.addWidget(self.view, 1)
        right.addLayout(buttons)
        lay.addLayout(left)
        lay.addLayout(right, 1)
        screen = self.win.screen().availableGeometry() if self.win.screen() is not None else None
        width, height = DIALOG_SIZE
        if screen is not None:
            width, height = min(width, screen.width() - 40), min(height, screen.height() - 80)
        self.resize(width, height)

    # -- the list -----------------------------------------------------------------------------------------------
    def refresh(self, select: str | None = None) -> None:
        """List the archive again (after the search changed, a delete, a continue); keeps the selection."""
        keep = select or (self.selected.id if self.selected is not None else None)
        self.entries = self.history.search(self.search.text())
        self.list.blockSignals(True)
        self.list.clear()
        for e in self.entries:
            item = QListWidgetItem(f"{e.title}\n{when(e)} · {e.turns} turn{'s' if e.turns != 1 else ''}")
            item.setToolTip(e.title)
            self.list.addItem(item)
        self.list.blockSignals(False)
        ids = [e.id for e in self.entries]
        row = ids.index(keep) if keep in ids else (0 if ids else -1)
        self.list.setCurrentRow(row)
        self._selected_row(row)

    @property
    def selected(self) -> ConversationEntry | None:
        row = self.list.currentRow() if hasattr(self, "list") else -1
        return self.entries[row] if 0 <= row < len(self.entries) else None

    def _selected_row(self, row: int) -> None:
        self._stop_replay()
        self.view.clear()
        self.shown = None
        entry = self.entries[row] if 0 <= row < len(self.entries) else None
        for b in (self.export_button, self.delete_button, self.continue_button):
            b.setEnabled(entry is not None)
        if entry is None:
            self.heading.setText("" if not self.search.text() else "No conversation holds those words.")
            self.view.hint.setText(NO_HISTORY if not self.search.text() else "")
            return
        self.heading.setText(f"<b>{_escape(entry.title)}</b><br><span>{when(entry)} · {entry.turns} turns</span>")
        try:
            self.shown = self.history.load(entry)
        except (OSError, ValueError) as err:
            self.heading.setText(f"Cannot read this conversation ({err}).")
            return
        for rec in self.shown.log.turns:
            if not rec.superseded:  # the live view hides them too
                show_turn(self.view, rec, "")

    # -- actions ------------------------------------------------------------------------------------------------
    def replay_turn(self, role: str, turn_id: int) -> None:
        """The window's replay path (ui/turn_replay.py): Esc stops it, the microphone does not take it for a turn."""
        if self.shown is not None:
            self.win.replayer.toggle(self.view, self.shown.log, role, turn_id)

    def _stop_replay(self) -> None:
        """A replay of this view's turns stops when another conversation is shown or the dialog closes."""
        replayer = self.win.replayer
        if replayer.playing and any(replayer.is_playing(self.view, r.role, r.turn_id)
                                    for r in (self.shown.log.turns if self.shown is not None else [])):
            replayer.stop("History")

    def export_selected(self) -> None:
        entry = self.selected
        if entry is None or self.shown is None:
            return
        name = time.strftime("conversation %Y-%m-%d %H-%M", time.localtime(entry.started))
        self.win.export_dialog(self.shown.log, name, {"title": entry.title, "history_id": entry.id})

    def continue_selected(self) -> bool:
        entry = self.selected
        if entry is None:
            return False
        self._stop_replay()
        ok = continue_conversation(self.win, entry)
        if ok:
            self.close()
        return ok

    def ask_delete(self) -> QMessageBox | None:
        entry = self.selected
        if entry is None:
            return None
        box = QMessageBox(QMessageBox.Icon.Warning, "Delete this conversation?",
                          f"“{entry.title}” ({when(entry)}, {entry.turns} turns) will be removed for good: its "
                          "text and audio. Export it first to keep a copy.",
                          QMessageBox.StandardButton.Cancel, self)
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setObjectName("deleteBox")
        box.buttonClicked.connect(lambda b: b is delete and self.delete(entry))
        self.confirm_box = box
        box.open()
        return box

    def delete(self, entry: ConversationEntry) -> None:
        self._stop_replay()
        try:
            self.history.delete(entry)
        except (OSError, ValueError) as err:
            self.win.statusBar().showMessage(f"Could not delete that conversation ({err}).", STATUS_MESSAGE_MS)
            return
        self.win.statusBar().showMessage(f"Deleted “{entry.title}” from the history.", STATUS_MESSAGE_MS)
        self.refresh()

    def done(self, result: int) -> None:  # closing stops a replay of ours
        self._stop_replay()
        super().done(result)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def show_history(win: Any) -> HistoryDialog:
    """Conversation → History: one dialog for the window's life, listed afresh each time it is shown."""
    dlg = getattr(win, "history_dialog", None)
    if dlg is None:
        dlg = win.history_dialog = HistoryDialog(win)
    else:
        dlg.refresh()
    dlg.show()
    dlg.raise_()
    dlg.activateWindow()
    log.info("history shown (%d conversations)", len(dlg.entries))
    return dlg


def continue_conversation(win: Any, entry: ConversationEntry) -> bool:
    """`entry` becomes the current conversation (the live one is filed first): its shown turns in the main view
    and exactly its journaled history in the model."""
    win.replayer.stop("a conversation continued")
    try:
        replayed, _filed = win.journal.adopt(entry)
    except (OSError, ValueError) as err:  # ValueError: a newer format (UnreadableJournal); nothing moved
        win.statusBar().showMessage(f"Could not continue that conversation ({err}).", STATUS_MESSAGE_MS)
        return False
    win.session.new_conversation()
    win.conversation_log.clear()
    win.view.clear()
    n = bring_back(win, replayed, "earlier")
    tail = "" if win.session.has_model else " Load a model to go on."
    win.statusBar().showMessage(f"Continuing “{entry.title}”: {n} turns back in the model's context." + tail,
                                STATUS_MESSAGE_MS)
    log.info("continuing conversation %s (%d history turns)", entry.id, n)
    return True


def install_history(win: Any) -> None:
    """At start: a returning user (a model was loaded before) sees no first-run guide while the last model loads;
    the guide comes back only when no model could be loaded. Says where the last conversation went after a clean
    quit (a crash leaves it for the restore offer instead)."""
    returning = bool(win.settings.recent)
    if returning:
        win.welcome.set_returning()
        if win.settings.checkpoint and win.settings.decoder:  # app_main loads it at start
            win.pages.setCurrentWidget(win.view)
            win.view.hint.setText(LOADING_HINT)
            win.view.setFocus()
    win.model_loaded.connect(lambda _label: win.view.hint.setText(EMPTY_HINT))
    win.load_failed.connect(lambda _msg: _guide_if_no_model(win))
    if win.pending_journal is None and win.journal.history.has_any() and not win.statusBar().currentMessage():
        win.statusBar().showMessage(LAST_IN_HISTORY, STATUS_MESSAGE_MS)


def _guide_if_no_model(win: Any) -> None:
    if not win.session.has_model:
        win.pages.setCurrentWidget(win.welcome)
        win.welcome.setFocus()

