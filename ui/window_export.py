"""File → Export (and History → Export): a conversation as a new folder of conversation.json and one WAV per turn
(app/window/turns.py `export_conversation`), written atomically. An empty conversation is refused in one line; a
failure (a full disk, a read-only folder) is said in one line and a box, and nothing is left half-written."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import QFileDialog

from app.window.turns import ConversationLog, export_conversation
from ui.dialogs import show_error
from ui.history_view import has_turns
from ui.messages import NOTHING_TO_EXPORT, STATUS_MESSAGE_MS

log = logging.getLogger(__name__)


class Exporter:
    def __init__(self, win: Any) -> None:
        """win: the MainWindow (its conversation, session, status bar)."""
        self.win = win
        self._parent: Path | None = None  # the last export's folder: the next picker opens there
        self.picker: QFileDialog | None = None

    def location(self) -> Path:
        """Where the export picker opens: the last export's folder, else Documents, else the home folder."""
        if self._parent is not None and self._parent.is_dir():
            return self._parent
        docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        return Path(docs) if docs and Path(docs).is_dir() else Path.home()

    def ask_folder(self, suggested: Path) -> str:
        dlg = QFileDialog(self.win, "Export the conversation as a new folder", str(suggested.parent))
        dlg.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dlg.setFileMode(QFileDialog.FileMode.AnyFile)
        dlg.setOption(QFileDialog.Option.DontConfirmOverwrite)
        dlg.setLabelText(QFileDialog.DialogLabel.Accept, "Export")
        dlg.setLabelText(QFileDialog.DialogLabel.FileName, "New folder")
        dlg.selectFile(suggested.name)
        self.picker = dlg
        return dlg.selectedFiles()[0] if dlg.exec() and dlg.selectedFiles() else ""

    def ask_and_export(self, conversation: ConversationLog | None = None, name: str | None = None,
                       meta: dict | None = None) -> None:
        """Name a new folder (it need not exist) for conversation.json and the turns' WAV files."""
        if not has_turns(self.win.conversation_log if conversation is None else conversation):
            log.info("export: nothing to export yet")
            self.win.statusBar().showMessage(NOTHING_TO_EXPORT, STATUS_MESSAGE_MS)
            return
        suggested = self.location() / (name or time.strftime("conversation %Y-%m-%d %H-%M"))
        log.info("export: asking for a folder (suggested %s)", suggested)
        out = self.ask_folder(suggested)
        if out:
            self._parent = Path(out).parent
            self.export_to(out, conversation, meta)

    def export_to(self, out_dir: str | Path, conversation: ConversationLog | None = None,
                  meta: dict | None = None) -> Path | None:
        """Export the window's conversation or `conversation` (the history's); a failure or an empty conversation
        is said in one line and returns None (nothing written)."""
        win = self.win
        conversation = win.conversation_log if conversation is None else conversation
        if not has_turns(conversation):
            win.statusBar().showMessage(NOTHING_TO_EXPORT, STATUS_MESSAGE_MS)
            return None
        meta = meta or {"model": win.session.model_label, "system_prompt": win.session.conversation.system_prompt}
        try:
            path = export_conversation(conversation, out_dir, meta)
        except (OSError, RuntimeError) as err:  # soundfile raises RuntimeError (LibsndfileError) on a full disk
            log.warning("export failed", exc_info=True)
            why = getattr(err, "strerror", None) or " ".join(str(err).split())
            message = f"Could not write {out_dir}: {why}; nothing was changed there."
            win.statusBar().showMessage(message, STATUS_MESSAGE_MS)
            win.last_error_box = show_error(win, "Export failed", message)
            return None
        n = len(conversation.turns)
        win.statusBar().showMessage(f"Exported {n} turns to {Path(out_dir)}", STATUS_MESSAGE_MS)
        log.info("exported %d turns to %s", n, out_dir)
        return path
