"""The main window: status strip, conversation, control bar, menus and shortcuts.

All model work runs elsewhere: engine calls on the session's control thread, loading on a `ModelLoader`
QThread, downloads on a `HubDownloader` QThread. Closing the window stops the engine (input -> processing ->
output) and the listeners, bounded in time.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtWidgets import QMainWindow, QProgressBar, QStackedWidget, QVBoxLayout, QWidget

from app.demo import DEMO_LABEL, demo_settings
from app.hub import LISTENER_REPOS, default_targets
from app.settings import AppSettings, SettingsStore
from app.window.journal import ConversationJournal
from app.window.model_loader import LoadRequest, ModelLoader, demo_loader, demo_request
from app.window.session import AudioFallback, Session
from app.window.turns import ASSISTANT, ConversationLog
from core.audio.duplex import DUPLEX_LABELS
from core.engine.events import DuplexResolved, EngineError, ErrorKind
from ui.controls import BUSY_STATES, ControlBar, StatusStrip
from ui.conversation_view import ConversationView
from ui.dialogs import OpenCheckpointDialog, WelcomePanel, guide_duplex, show_error
from ui.history_view import install_history
from ui.inspector import Inspector
from ui.messages import NEW_EMPTY, NEW_FILED, STATUS_MESSAGE_MS, TEXT_ONLY_MESSAGE_MS, gui_text
from ui.presenter import Presenter
from ui.turn_replay import TurnReplay
from ui.window_actions import WindowActions
from ui.window_export import Exporter
from ui.window_journal import answer_restore, offer_restore, take_previous

log = logging.getLogger(__name__)

WINDOW_SIZE = (980, 720)
MIN_SIZE = (640, 500)  # nothing clips here: the control bar reflows into two rows (ui/controls.py)
TALK_KEY = Qt.Key.Key_F2
TALK_RELEASE_DEBOUNCE_MS = 120  # X11 key repeat sends release+press pairs Qt may not flag as repeats
LOAD_CANCEL_WAIT_MS = 30000
REPEAT_WARNING_S = 60.0  # the same microphone warning at most once a minute


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
        self._talk_held = False
        self._talk_release = QTimer(self, singleShot=True, interval=TALK_RELEASE_DEBOUNCE_MS)
        self._talk_release.timeout.connect(self._talk_key_up)
        self._warned_at: dict[str, float] = {}
        self.exporter = Exporter(self)  # File → Export (ui/window_export.py)
        self.demo = False
        self.typed_checkpoint: tuple[str, str] | None = None  # the Open checkpoint dialog's last folders
        self.setWindowTitle("OpenS2S Companion")
        self.setMinimumSize(*MIN_SIZE)
        self.resize(*WINDOW_SIZE)
        self._build()
        self.presenter = Presenter(self.view, self.strip, self.conversation_log, self)
        self.replayer = TurnReplay(replay, session, self.strip, lambda: self._refresh_busy(), self)
        self.presenter.engine_error.connect(self._engine_error)
        self.presenter.notice.connect(lambda line: self.statusBar().showMessage(line, STATUS_MESSAGE_MS))
        self.presenter.state_changed.connect(self._state_changed)
        self.duplex_resolved: str | None = None  # the mode the running engine reported (DuplexResolved)
        self.presenter.half_duplex = lambda: self.duplex_mode() == "half"
        self.presenter.downloadable = self.listener_downloadable
        session.event.connect(self.presenter.handle)
        session.event.connect(self._session_event)
        self.journal = ConversationJournal(data_root)  # crash-safe copy of every turn (app/window/journal.py)
        session.event.connect(self.journal.handle)
        self.inspector = Inspector(self, session)  # View → What the app heard… (testers; ui/inspector.py)
        self.journal.on_failure = lambda msg: self.statusBar().showMessage(msg, TEXT_ONLY_MESSAGE_MS)
        self.pending_journal = take_previous(self)
        if replay is not None:
            replay.failed.connect(lambda msg: self.statusBar().showMessage(msg, STATUS_MESSAGE_MS))
        self.actions_ = WindowActions(self)
        self.strip.download_requested.connect(self.actions_.download_listeners)
        self._apply_show_emotion(self.settings.show_emotion)
        self.controls.set_push_to_talk(self.settings.push_to_talk)
        self.controls.set_ready(False)
        self.welcome.set_duplex(guide_duplex(self.settings.duplex, self.settings.output_device, session.audio))
        self.welcome.duplex_chosen.connect(self.choose_duplex)
        self.welcome.setFocus()  # not the Download button: a stray Space must not start anything
        if store.load_warning:
            self.statusBar().showMessage(store.load_warning, TEXT_ONLY_MESSAGE_MS)
        install_history(self)  # Ctrl+H's archive; what a returning user sees at start (ui/history_view.py)

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
        """Esc / Stop: silence whatever plays, a reply or a replayed turn."""
        log.info("stop pressed (Esc / Stop; a replay playing: %s)", self.replayer.playing)
        self.replayer.stop("Esc / Stop")
        self.session.interrupt()

    def new_conversation(self) -> None:
        if self.replay is not None:
            self.replay.stop()
        self.session.new_conversation()
        filed = self.journal.new_conversation()  # into the history (Ctrl+H): nothing is lost
        self.conversation_log.clear()
        self.view.clear()
        self.statusBar().showMessage(NEW_FILED if filed else NEW_EMPTY, STATUS_MESSAGE_MS)
        log.info("new conversation")

    # -- the journal of the last run (ui/window_journal.py) -----------------------------------------------------
    def offer_restore(self) -> None:
        offer_restore(self)

    def answer_restore(self, restore: bool) -> None:
        answer_restore(self, restore)

    def replay_turn(self, role: str, turn_id: int) -> None:
        """Replay a turn; its button turns into Stop while it plays (clicking it again stops): ui/turn_replay.py."""
        self.replayer.toggle(self.view, self.conversation_log, role, turn_id)

    def replay_last_reply(self) -> None:
        """Ctrl+R: the newest reply with audio (again: stop it)."""
        rec = next((r for r in reversed(self.conversation_log.turns)
                    if r.role == ASSISTANT and r.chunks and not r.superseded), None)
        if rec is None:
            self.statusBar().showMessage("No reply to replay yet.", STATUS_MESSAGE_MS)
            return
        self.replay_turn(rec.role, rec.turn_id)

    def _state_changed(self, state: str) -> None:
        self.replayer.on_engine_state(state)
        self._refresh_busy()

    def _refresh_busy(self) -> None:
        self.controls.set_busy(self.strip.state_name in BUSY_STATES or self.replayer.playing)

    def set_push_to_talk(self, on: bool) -> None:
        self.update_settings(dataclasses.replace(self.settings, push_to_talk=on))
        self.controls.set_push_to_talk(on)
        self.controls.set_ready(self.session.has_model)

    def export_to(self, out_dir: str | Path, conversation: ConversationLog | None = None,
                  meta: dict | None = None) -> Path | None:
        return self.exporter.export_to(out_dir, conversation, meta)

    def export_dialog(self, conversation: ConversationLog | None = None, name: str | None = None,
                      meta: dict | None = None) -> None:
        self.exporter.ask_and_export(conversation, name, meta)

    # -- settings ----------------------------------------------------------------------------------------------
    def set_show_emotion(self, show: bool) -> None:
        log.info("emotion labels shown: %s", show)
        self.update_settings(dataclasses.replace(self.settings, show_emotion=show))
        self._apply_show_emotion(show)

    def _apply_show_emotion(self, show: bool) -> None:
        self.view.set_show_emotion(show)
        action = getattr(self, "actions_", None)
        if action is not None:
            action.show_emotion.setChecked(show)

    def update_settings(self, settings: AppSettings, restart_engine: bool = False) -> str | None:
        """Apply and save `settings`; returns the one-line save failure (also shown), None when saved."""
        if settings.duplex != self.settings.duplex or settings.output_device != self.settings.output_device:
            self.duplex_resolved = None  # until the engine resolves the new setting
        self.settings = settings
        unsaved = None
        try:
            self.store.save(settings)
        except OSError as err:  # disk full, read-only config dir: the change still applies for this session
            log.warning("settings not saved: %s", err)
            unsaved = f"Settings apply now but could not be saved ({err})."
            self.statusBar().showMessage(unsaved, STATUS_MESSAGE_MS)
        if self.replay is not None:
            self.replay.set_device(self.session.audio, settings.config().engine.audio.output_device)
        effective = self.session_settings(settings)
        if restart_engine:
            self.session.apply_settings(effective)
        else:
            self.session.settings = effective
            self.session.talk_vad.set_push_to_talk(settings.push_to_talk)
        return unsaved

    def duplex_mode(self) -> str:
        """The duplex mode running: what the engine resolved, else the setting ("auto" counts as full duplex until
        the engine says otherwise)."""
        return self.duplex_resolved or self.session.settings.duplex

    def choose_duplex(self, choice: str) -> None:
        """The first-run guide's choice (one of core.audio.duplex.DUPLEX_CHOICES)."""
        if choice != self.settings.duplex:
            log.info("duplex chosen in the guide: %s", choice)
            self.update_settings(dataclasses.replace(self.settings, duplex=choice),
                                 restart_engine=self.session.has_model)

    def session_settings(self, settings: AppSettings) -> AppSettings:
        """What the engine runs with: the user's settings, or for the demo its random listeners and short replies
        (never saved)."""
        return demo_settings(settings, self.data_root) if self.demo else settings

    def listener_downloadable(self, name: str) -> bool:
        """The listener is set to its usual hub model (so Download can fetch it)."""
        configured = {"asr": self.settings.asr_checkpoint, "user_emotion": self.settings.ser_checkpoint,
                      "assistant_emotion": self.settings.text_emotion_checkpoint}.get(name)
        return not self.demo and configured is not None and configured == LISTENER_REPOS.get(name)

    # -- models ------------------------------------------------------------------------------------------------
    def open_checkpoint_dialog(self) -> None:
        """The folders typed last time come back (a failed load loses nothing); a blank decoder is the downloaded
        one."""
        typed = self.typed_checkpoint or (self.settings.checkpoint or "", self.settings.decoder or "")
        dlg = OpenCheckpointDialog(*typed, self, default_decoder=str(default_targets(self.data_root)[1].local_dir))
        self.checkpoint_dialog = dlg
        if dlg.exec():
            model, decoder = self.typed_checkpoint = dlg.paths()
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

    def _loaded(self, runner: Any, vocoder: Any, playback: Any, request: LoadRequest) -> None:
        self._loading = False
        self.progress.setVisible(False)
        label = request.label or Path(request.checkpoint).name
        self.demo = label == DEMO_LABEL
        effective = self.session_settings(self.settings)
        listeners_change = effective.config().listeners != self.session.settings.config().listeners
        if self.session.listeners is not None and listeners_change:
            self.session.set_models(runner, vocoder, playback, label)
            self.session.apply_settings(effective)  # new listeners (demo <-> real), after the swap
        else:
            self.session.settings = effective
            self.session.set_models(runner, vocoder, playback, label)
        unsaved = self.update_settings(self.settings.with_recent(request.checkpoint, request.decoder, label))
        self.actions_.refresh_recent()
        self.strip.set_model(f"Model: {label}")
        self.pages.setCurrentWidget(self.view)
        self.controls.set_ready(True)
        self.controls.entry.setFocus()  # typing goes to the text box; shortcuts still reach the window
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
        self.statusBar().showMessage(
            f"Still using {self.session.model_label}" if self.session.has_model else "No model loaded",
            STATUS_MESSAGE_MS)  # replaces "loading the model…"
        self.last_error_box = show_error(self, "Could not load the checkpoint", gui_text(message), keep)
        self.load_failed.emit(message)

    def _session_event(self, ev: object) -> None:
        if isinstance(ev, DuplexResolved):
            self._duplex_resolved(ev)
        if isinstance(ev, AudioFallback):
            self.strip.set_model(f"Model: {self.session.model_label} · text-only (no sound device)")
            self.statusBar().showMessage(
                f"{gui_text(ev.reason)} Text-only mode: type your messages; replies are shown, not played. "
                "Pick devices in Settings to try again.",
                TEXT_ONLY_MESSAGE_MS,
            )

    def _duplex_resolved(self, ev: DuplexResolved) -> None:
        """Say which mode runs when the user did not pick it exactly ("auto", or speakers without a canceller)."""
        before, self.duplex_resolved = self.duplex_resolved, ev.mode
        label = DUPLEX_LABELS.get(ev.mode, ev.mode)
        self.strip.mic_icon.setToolTip(f"Microphone while the app speaks: {label} ({ev.reason})")
        log.info("duplex mode: %s (%s)", ev.mode, ev.reason)
        # once per mode, and never over a message already showing (a failed save, a device error)
        if ev.mode != self.session.settings.duplex and ev.mode != before and not self.statusBar().currentMessage():
            self.statusBar().showMessage(f"Microphone while the app speaks: {label} — {ev.reason}.", STATUS_MESSAGE_MS)

    def _engine_error(self, ev: EngineError) -> None:
        message = gui_text(ev.message)
        if ev.kind is ErrorKind.INPUT_SIGNAL and not ev.fatal and not self._worth_showing(message):
            return
        self.statusBar().showMessage(message, STATUS_MESSAGE_MS)
        if ev.fatal:
            self.last_error_box = show_error(self, "Audio stopped", message)

    def _worth_showing(self, message: str) -> bool:
        """Microphone warnings: not while the app is talking (half-duplex ignores the mic then anyway), and the
        same one at most once a minute."""
        if self.strip.state_name in BUSY_STATES or self.session.text_only:
            return False  # text-only: the silent stand-in microphone is not worth a warning
        now = time.monotonic()
        last = self._warned_at.get(message)
        if last is not None and now - last < REPEAT_WARNING_S:
            return False
        self._warned_at[message] = now
        return True

    # -- keys and closing --------------------------------------------------------------------------------------
    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt override)
        """F2 held = talk. In hands-free mode it switches to push-to-talk for as long as it is held.

        Key repeat: Qt flags most repeats, but X11 servers can deliver release+press pairs it does not; a release
        only counts after TALK_RELEASE_DEBOUNCE_MS without a new press, so one hold is one turn."""
        if event.key() == TALK_KEY and self.session.has_model:
            if event.isAutoRepeat() or self._talk_held:
                self._talk_release.stop()  # a repeat's release+press pair: still held
                return
            self._talk_held = True
            self._talk_key_hands_free = not self.session.talk_vad.push_to_talk
            if self._talk_key_hands_free:
                self.session.talk_vad.set_push_to_talk(True)
            self.controls.talk.setDown(True)
            self.session.talk_pressed()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if event.key() == TALK_KEY and self.session.has_model:
            if not event.isAutoRepeat() and self._talk_held:
                self._talk_release.start()
            return
        super().keyReleaseEvent(event)

    def _talk_key_up(self) -> None:
        log.info("talk key released")
        self._talk_held = False
        self.controls.talk.setDown(False)
        self.session.talk_released()
        if self._talk_key_hands_free:
            self.session.talk_vad.set_push_to_talk(False)

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        """Losing focus while F2 is held: its release goes to another window, so treat the loss as the release."""
        if event.type() == QEvent.Type.ActivationChange and self._talk_held and not self.isActiveWindow():
            log.info("window lost focus while the talk key was held; ending the turn there")
            self._talk_release.stop()
            self._talk_key_up()
        super().changeEvent(event)

    def refresh_icons(self) -> None:
        """After a light/dark switch (ui.theme)."""
        for w in (self.strip, self.controls, self.view, self.welcome):
            w.refresh_icons()

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
        try:
            self.journal.file_away()  # a clean quit: into the history, so the next start offers no restore
        except OSError as err:  # it stays in journal/current/: the next start offers it
            log.warning("could not file the conversation in the history: %s", err)
            self.journal.close()
        return ok

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        ok = self.shutdown()
        log.info("window closed (clean shutdown: %s)", ok)
        event.accept()
