"""Menus, shortcuts, the recent-checkpoints list, the settings dialog and the hub download for `MainWindow`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenuBar

from app.downloader import HubDownloader, default_targets
from app.model_loader import LoadRequest
from app.session import Session
from app.settings import AppSettings
from ui.dialogs import DownloadDialog, WelcomePanel, show_error
from ui.settings_dialog import SettingsDialog

log = logging.getLogger(__name__)

SHORTCUTS = {
    "open": "Ctrl+O",
    "export": "Ctrl+E",
    "quit": "Ctrl+Q",
    "new": "Ctrl+N",
    "stop": "Esc",
    "emotion": "Ctrl+M",
    "settings": "Ctrl+,",
}


class ActionHost(Protocol):
    """What the actions need from their window (ui.main_window.MainWindow, a QMainWindow)."""

    session: Session
    settings: AppSettings
    welcome: WelcomePanel
    data_root: Path

    def menuBar(self) -> QMenuBar: ...  # noqa: N802 (Qt's name)

    def addAction(self, action: QAction) -> None: ...  # noqa: N802 (Qt's name)

    def close(self) -> bool: ...

    def open_checkpoint_dialog(self) -> None: ...

    def load_demo(self) -> None: ...

    def load(self, request: LoadRequest) -> None: ...

    def export_dialog(self) -> None: ...

    def new_conversation(self) -> None: ...

    def stop_reply(self) -> None: ...

    def set_show_emotion(self, show: bool) -> None: ...

    def update_settings(self, settings: AppSettings, restart_engine: bool = False) -> None: ...


class WindowActions:
    def __init__(self, win: ActionHost) -> None:
        self.win = win
        self.downloader: HubDownloader | None = None
        self.download_fns: dict = {}  # tests inject list_files / download_file here
        bar = win.menuBar()
        file_menu = bar.addMenu("&File")
        self.open = self._action(file_menu, "&Open checkpoint…", "open", win.open_checkpoint_dialog)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self._action(file_menu, "&Download OpenS2S from the hub…", None, self.start_download)
        self._action(file_menu, "Use the &demo checkpoint (random weights, gibberish)", None, win.load_demo)
        file_menu.addSeparator()
        self._action(file_menu, "&Export conversation…", "export", win.export_dialog)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", "quit", win.close)
        conv = bar.addMenu("&Conversation")
        self.new = self._action(conv, "&New conversation", "new", win.new_conversation)
        self.stop = self._action(conv, "&Stop reply", "stop", win.stop_reply)
        conv.addAction("Talk: hold F2 (in either mode)").setEnabled(False)
        view = bar.addMenu("&View")
        self.show_emotion = self._action(view, "Show &emotion labels", "emotion", None)
        self.show_emotion.setCheckable(True)
        self.show_emotion.toggled.connect(win.set_show_emotion)
        self._action(bar.addMenu("&Settings"), "&Preferences…", "settings", self.open_settings)
        win.welcome.open_clicked.connect(win.open_checkpoint_dialog)
        win.welcome.download_clicked.connect(self.start_download)
        self.refresh_recent()

    def _action(self, menu, text: str, key: str | None, slot) -> QAction:
        action = QAction(text, self.win)
        if key:
            action.setShortcut(QKeySequence(SHORTCUTS[key]))
        if slot is not None:
            action.triggered.connect(slot)
        menu.addAction(action)
        self.win.addAction(action)  # shortcuts work while the menu bar is hidden too
        return action

    def refresh_recent(self) -> None:
        self.recent_menu.clear()
        for r in self.win.settings.recent:
            label = r.label or Path(r.checkpoint).name
            act = self.recent_menu.addAction(f"{label}  ({r.checkpoint})")
            act.triggered.connect(lambda _=False, r=r: self.win.load(LoadRequest(r.checkpoint, r.decoder, r.label)))
        self.recent_menu.setEnabled(bool(self.win.settings.recent))

    def open_settings(self) -> None:
        dlg = SettingsDialog(self.win.settings, _device_names(self.win.session.audio), self.win)
        if dlg.exec() and dlg.result is not None:
            self.win.update_settings(dlg.result, restart_engine=True)

    def start_download(self) -> HubDownloader | None:
        if self.downloader is not None and self.downloader.isRunning():
            return self.downloader
        self.downloader = HubDownloader(default_targets(self.win.data_root), parent=self.win, **self.download_fns)
        self.downloader.finished_ok.connect(self._downloaded)
        self.downloader.failed.connect(lambda msg: show_error(self.win, "Download failed", msg))
        dialog = DownloadDialog(self.downloader, self.win)
        self.downloader.start()
        dialog.open()
        return self.downloader

    def _downloaded(self, dirs: list) -> None:
        model, decoder = dirs
        self.win.load(LoadRequest(model, decoder, "OpenS2S"))


def _device_names(audio) -> list[str]:
    """Device names from the sounddevice-like backend, for the settings combo boxes ([] if unavailable)."""
    if audio is None:
        try:
            import sounddevice as audio
        except (ImportError, OSError) as err:
            log.info("no audio device list: %s", err)
            return []
    try:
        devices = audio.query_devices()
    except Exception as err:  # PortAudio raises its own types
        log.info("no audio device list: %s", err)
        return []
    if isinstance(devices, dict):
        devices = [devices]
    return [str(d.get("name", "")) for d in devices if d.get("name")]
