"""The main window: status strip, conversation, control bar, menus and shortcuts.

All model work runs elsewhere: engine calls on the session's control thread, loading on a `ModelLoader`
QThread, downloads on a `HubDownloader` QThread. Closing the window stops the engine (input -> processing ->
output) and the listeners, bounded in time.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QMainWindow, QProgressBar, QStackedWidget, QVBoxLayout, QWidget

from app.demo import demo_loader, demo_request
from app.journal import ConversationJournal
from app.model_loader import LoadRequest, ModelLoader
from app.session import AudioFallback, Session
from app.settings import AppSettings, SettingsStore
from app.turns import ASSISTANT, ConversationLog, export_conversation
from core.engine.events import EngineError
from ui.controls import ControlBar, StatusStrip
from ui.conversation_view import ConversationView
from ui.dialogs import OpenCheckpointDialog, WelcomePanel, show_error
from ui.presenter import Presenter
from ui.window_actions import WindowActions

log = logging.getLogger(__name__)

WINDOW_SIZE = (980, 720)
TALK_KEY = Qt.Key.Key_F2
STATUS_MESSAGE_MS = 6000
TEXT_ONLY_MESSAGE_MS = 30000
LOAD_CANCEL_WAIT_MS = 30000


class MainWindow(QMainWindow):
    """`load(request)` loads a model off-thread; `model_loaded` / `load_failed(msg)` report the outcome."""

    model_loaded = Signal(str)
    load_failed = Signal(str)

    def __init__(self, session: Session, store: SettingsStore, data_root: Path, replay: Any = None) -> None:
        super().__init__()
        self.session, self.store, self.data_root = session, store, data_root
        self.settings: AppSettings = session.settings
        self.conversation_log = ConversationLog()
        self.loader: ModelLoader | None = None
        self.last_error_box = None
        self.replay = replay
        self._shut_down = False
        self._loading = False
        self._talk_key_hands_free = False
        self._talk_key_down = False
        self.setWindowTitle("OpenS2S Companion")
        self.resize(*WINDOW_SIZE)
        self._build()
        self.presenter = Presenter(self.view, self.strip, self.conversation_log, self)
        self.presenter.engine_error.connect(self._engine_error)
        session.event.connect(self.presenter.handle)
        session.event.connect(self._session_event)
        self.journal = ConversationJournal(data_root)  # crash-safe copy of every turn (app/journal.py)
        session.event.connect(self.journal.handle)
        self.journal.on_failure = lambda msg: self.statusBar().showMessage(msg, TEXT_ONLY_MESSAGE_MS)
        self.pending_journal = self._take_previous_journal()
        if replay is not None:
            replay.failed.connect(lambda msg: self.statusBar().showMessage(msg, STATUS_MESSAGE_MS))
        self.actions_ = WindowActions(self)
        self._apply_show_emotion(self.settings.show_emotion)
        self.controls.set_push_to_talk(self.settings.push_to_talk)
        self.controls.set_ready(False)
        if store.load_warning:
            self.statusBar().showMessage(store.load_warning, TEXT_ONLY_MESSAGE_MS)

    # -- layout ------------------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.strip = StatusStrip()
        self.view = ConversationView()
        self.view.replay_requested.connect(self.replay_turn)
        self.welcome = WelcomePanel()
        self.welcome.demo_clicked.connect(self.load_demo)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.welcome)
        self.pages.addWidget(self.view)
        self.controls = ControlBar()
        self.controls.text_submitted.connect(self.send_text)
        self.controls.stop_clicked.connect(self.stop_reply)
        self.controls.talk_pressed.connect(self.session.talk_pressed)
        self.controls.talk_released.connect(self.session.talk_released)
        self.controls.mode_changed.connect(self.set_push_to_talk)
        central = QWidget(objectName="central")
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.strip)
        lay.addWidget(self.pages, 1)
        lay.addWidget(self.controls)
        self.setCentralWidget(central)
        self.progress = QProgressBar(objectName="loadProgress")
        self.progress.setRange(0, 100)
        self.progress.setFixedWidth(220)
        self.progress.setVisible(False)
        self.statusBar().addPermanentWidget(self.progress)

    # -- conversation ------------------------------------------------------------------------------------------
    def send_text(self, text: str) -> None:
        self.session.submit_text(text)

    def stop_reply(self) -> None:
        self.session.interrupt()

    def new_conversation(self) -> None:
        if self.replay is not None:
            self.replay.stop()
        self.session.new_conversation()
        self.journal.new_conversation()
        self.conversation_log.clear()
        self.view.clear()
        self.statusBar().showMessage("New conversation: the model's history is cleared.", STATUS_MESSAGE_MS)

    # -- the journal of the last run --------------------------------------------------------------------------
    def _take_previous_journal(self) -> Path | None:
        try:
            return self.journal.take_previous()
        except OSError as err:
            log.warning("could not read the last conversation's journal: %s", err)
            return None

    def offer_restore(self) -> None:
        """Ask (without blocking the event loop) whether to bring back the last run's conversation."""
        if self.pending_journal is None:
            return
        from PySide6.QtWidgets import QMessageBox

        box = QMessageBox(QMessageBox.Icon.Question, "Restore the last conversation?",
                          "The last conversation was not cleared. Bring it back (text, labels and audio)?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setObjectName("restoreBox")
        box.finished.connect(lambda result: self.answer_restore(result == QMessageBox.StandardButton.Yes))
        self.restore_box = box
        box.open()

    def answer_restore(self, restore: bool) -> None:
        pending, self.pending_journal = self.pending_journal, None
        if pending is None:
            return
        try:
            if not restore:
                self.journal.discard(pending)
                return
            restored = self.journal.restore(pending)
        except OSError as err:
            self.statusBar().showMessage(f"Could not restore the last conversation ({err}).", STATUS_MESSAGE_MS)
            return
        history = []
        for rec in restored.turns:
            if self.conversation_log.find(rec.role, rec.turn_id) is not None:
                continue
            self.conversation_log.insert(len(history), rec)
            self._show_restored(rec)
            heard = rec.heard_text if rec.heard_text is not None else rec.text
            audio = rec.audio() if rec.role != ASSISTANT and not rec.typed and rec.sample_rate_hz == 16000 else None
            history.append((rec.role, heard if rec.role == ASSISTANT else rec.text, audio))
        last_id = max((r.turn_id for r in restored.turns), default=0)
        self.session.restore_history(history, last_id)
        self.statusBar().showMessage(f"Restored {len(history)} turns of the last conversation.", STATUS_MESSAGE_MS)

    def _show_restored(self, rec) -> None:
        bubble = self.view.bubble(rec.role, rec.turn_id)
        bubble.set_text(rec.text or (f"🎤 {rec.audio_s:.1f} s of speech" if rec.chunks else "(no words)"))
        bubble.set_note("restored" + (" · interrupted" if rec.interrupted else ""))
        bubble.set_replayable(bool(rec.chunks))
        for label, confidence in rec.emotions[-1:]:
            bubble.set_emotion(label, confidence, True)

    def replay_turn(self, role: str, turn_id: int) -> None:
        rec = self.conversation_log.find(role, turn_id)
        if rec is None or not rec.chunks or self.replay is None:
            return
        self.replay.play(rec.audio(), rec.sample_rate_hz)

    def set_push_to_talk(self, on: bool) -> None:
        self.update_settings(dataclasses.replace(self.settings, push_to_talk=on))
        self.controls.set_push_to_talk(on)
        self.controls.set_ready(self.session.has_model)

    def export_to(self, out_dir: str | Path) -> Path | None:
        """Export (atomically); a failure is shown in one line and returns None."""
        meta = {"model": self.session.model_label, "system_prompt": self.session.conversation.system_prompt}
        try:
            path = export_conversation(self.conversation_log, out_dir, meta)
        except (OSError, RuntimeError) as err:  # soundfile raises RuntimeError (LibsndfileError) on a full disk
            log.warning("export failed", exc_info=True)
            message = f"Export to {Path(out_dir)} failed ({' '.join(str(err).split())}); nothing was changed there."
            self.statusBar().showMessage(message, STATUS_MESSAGE_MS)
            self.last_error_box = show_error(self, "Export failed", message)
            return None
        self.statusBar().showMessage(f"Exported to {Path(out_dir)}", STATUS_MESSAGE_MS)
        return path

    def export_dialog(self) -> None:
        out = QFileDialog.getExistingDirectory(self, "Export the conversation into a folder")
        if out:
            self.export_to(out)

    # -- settings ----------------------------------------------------------------------------------------------
    def set_show_emotion(self, show: bool) -> None:
        self.update_settings(dataclasses.replace(self.settings, show_emotion=show))
        self._apply_show_emotion(show)

    def _apply_show_emotion(self, show: bool) -> None:
        self.view.set_show_emotion(show)
        action = getattr(self, "actions_", None)
        if action is not None:
            action.show_emotion.setChecked(show)

    def update_settings(self, settings: AppSettings, restart_engine: bool = False) -> str | None:
        """Apply and save `settings`; returns the one-line save failure (also shown), None when saved."""
        self.settings = settings
        unsaved = None
        try:
            self.store.save(settings)
        except OSError as err:  # disk full, read-only config dir: the change still applies for this session
            log.warning("settings not saved: %s", err)
            unsaved = f"Settings apply now but could not be saved ({err})."
            self.statusBar().showMessage(unsaved, STATUS_MESSAGE_MS)
        if self.replay is not None:
            self.replay.set_device(self.session.audio, settings.engine_config().audio.output_device)
        if restart_engine:
            self.session.apply_settings(settings)
        else:
            self.session.settings = settings
            self.session.talk_vad.set_push_to_talk(settings.push_to_talk)
        return unsaved

    # -- models ------------------------------------------------------------------------------------------------
    def open_checkpoint_dialog(self) -> None:
        dlg = OpenCheckpointDialog(self.settings.checkpoint or "", self.settings.decoder or "", self)
        if dlg.exec():
            model, decoder = dlg.paths()
            self.load(LoadRequest(model, decoder, Path(model).name))

    def load_demo(self) -> None:
        self.load(demo_request(self.data_root), load_fn=demo_loader(self.data_root))

    def load(self, request: LoadRequest, load_fn: Any = None) -> ModelLoader | None:
        if self._loading:
            self.statusBar().showMessage("A model is already loading.", STATUS_MESSAGE_MS)
            return None
        self._loading = True
        if self.loader is not None:
            self.loader.wait()  # the previous loader already reported; its thread is only returning
        self.loader = ModelLoader(request, self.settings, load_fn, self)
        self.loader.progress.connect(self._load_progress)
        self.loader.loaded.connect(self._loaded)
        self.loader.failed.connect(self._load_failed)
        self.progress.setValue(0)
        self.progress.setVisible(True)
        if not self.session.has_model:
            self.strip.set_state("loading")
        self.loader.start()
        return self.loader

    def _load_progress(self, percent: int, what: str) -> None:
        self.progress.setValue(percent)
        self.statusBar().showMessage(f"{what}…")

    def _loaded(self, runner: Any, decoder: Any, request: LoadRequest) -> None:
        self._loading = False
        self.progress.setVisible(False)
        label = request.label or Path(request.checkpoint).name
        self.session.set_models(runner, decoder, label)
        self.strip.set_model(f"Model: {label}")
        self.pages.setCurrentWidget(self.view)
        self.controls.set_ready(True)
        unsaved = self.update_settings(self.settings.with_recent(request.checkpoint, request.decoder, label))
        self.actions_.refresh_recent()
        self.presenter.set_listener_statuses(self.session.listener_statuses())
        self.statusBar().showMessage(f"Loaded {label}" + (f". {unsaved}" if unsaved else ""), STATUS_MESSAGE_MS)
        log.info("model loaded: %s", label)
        self.model_loaded.emit(label)

    def _load_failed(self, message: str) -> None:
        self._loading = False
        self.progress.setVisible(False)
        if not self.session.has_model:
            self.strip.set_state("no_model")
        keep = f"\n\nStill using: {self.session.model_label}" if self.session.has_model else ""
        self.last_error_box = show_error(self, "Could not load the checkpoint", message, keep)
        self.load_failed.emit(message)

    def _session_event(self, ev: object) -> None:
        if isinstance(ev, AudioFallback):
            self.strip.set_model(f"Model: {self.session.model_label} · text-only (no sound device)")
            self.statusBar().showMessage(
                f"{ev.reason} Text-only mode: type your messages; replies are shown, not played. "
                "Pick devices in Settings to try again.",
                TEXT_ONLY_MESSAGE_MS,
            )

    def _engine_error(self, ev: EngineError) -> None:
        self.statusBar().showMessage(ev.message, STATUS_MESSAGE_MS)
        if ev.fatal:
            self.last_error_box = show_error(self, "Audio stopped", ev.message)

    # -- keys and closing --------------------------------------------------------------------------------------
    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt override)
        """F2 held = talk. In hands-free mode it switches to push-to-talk for as long as it is held."""
        if event.key() == TALK_KEY and not event.isAutoRepeat() and self.session.has_model:
            self._talk_key_hands_free = not self.session.talk_vad.push_to_talk
            if self._talk_key_hands_free:
                self.session.talk_vad.set_push_to_talk(True)
            self.controls.talk.setDown(True)
            self._talk_key_down = True
            self.session.talk_pressed()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if event.key() == TALK_KEY and not event.isAutoRepeat() and self.session.has_model:
            self._release_talk_key()
            return
        super().keyReleaseEvent(event)

    def _release_talk_key(self) -> None:
        self._talk_key_down = False
        self.controls.talk.setDown(False)
        self.session.talk_released()
        if self._talk_key_hands_free:
            self.session.talk_vad.set_push_to_talk(False)

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        """Losing focus while F2 is held: its release goes to another window, so treat the loss as the release."""
        if event.type() == QEvent.Type.ActivationChange and self._talk_key_down and not self.isActiveWindow():
            log.info("window lost focus while the talk key was held; ending the turn there")
            self._release_talk_key()
        super().changeEvent(event)

    def shutdown(self) -> bool:
        """Stop loading, replay, the engine and the listeners; bounded. Idempotent."""
        if self._shut_down:
            return True
        self._shut_down = True
        if self.loader is not None and self.loader.isRunning():
            self.loader.cancel()  # takes effect between the model and the decoder load
            if not self.loader.wait(LOAD_CANCEL_WAIT_MS):
                log.warning("the model load did not stop within %d ms", LOAD_CANCEL_WAIT_MS)
        if self.replay is not None:
            self.replay.stop()
        ok = self.session.shutdown()
        self.journal.close()
        return ok

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        ok = self.shutdown()
        log.info("window closed (clean shutdown: %s)", ok)
        event.accept()
