"""Menus, application-wide shortcuts, the recent list, settings, downloads and Help for `MainWindow`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenuBar, QMessageBox, QStatusBar

from app.hub import LISTENER_REPOS, RepoTarget, approx_size_text, default_targets, listener_targets
from app.settings import AppSettings
from app.window.downloader import HubDownloader
from app.window.model_loader import LoadRequest
from app.window.session import Session
from ui.controls import ControlBar
from ui.dialogs import DownloadDialog, ShortcutsDialog, WelcomePanel, show_error
from ui.history_view import show_history
from ui.inspector import Inspector
from ui.messages import LISTENER_TITLES, listener_line
from ui.presenter import Presenter
from ui.settings_audio import audio_devices
from ui.settings_dialog import SettingsDialog

log = logging.getLogger(__name__)

SHORTCUTS = {
    "open": "Ctrl+O",
    "export": "Ctrl+E",
    "quit": "Ctrl+Q",
    "new": "Ctrl+N",
    "history": "Ctrl+H",
    "stop": "Esc",
    "replay": "Ctrl+R",
    "emotion": "Ctrl+M",
    "inspector": "Ctrl+I",
    "settings": "Ctrl+,",
    "shortcuts": "F1",
}
EXTRA_KEYS = (("F2 (hold)", "Talk while held, in either mode"), ("Enter", "Send the typed message"))


class ActionHost(Protocol):
    """What the actions need from their window (ui.main_window.MainWindow, a QMainWindow)."""

    session: Session
    settings: AppSettings
    welcome: WelcomePanel
    data_root: Path
    controls: ControlBar
    presenter: Presenter
    inspector: Inspector
    last_error_box: QMessageBox | None
    settings_dialog: SettingsDialog | None
    shortcuts_dialog: ShortcutsDialog | None

    def menuBar(self) -> QMenuBar: ...  # noqa: N802 (Qt's name)

    def addAction(self, action: QAction) -> None: ...  # noqa: N802 (Qt's name)

    def statusBar(self) -> QStatusBar: ...  # noqa: N802 (Qt's name)

    def listener_downloadable(self, name: str) -> bool: ...

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
        self.download_dialog: DownloadDialog | None = None
        self.download_fns: dict = {}  # tests inject list_files / download_file here
        self.by_key: dict[str, QAction] = {}
        bar = win.menuBar()
        file_menu = bar.addMenu("&File")
        self.open = self._action(file_menu, "&Open checkpoint…", "open", win.open_checkpoint_dialog)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self._action(file_menu, "&Download OpenS2S and the listeners…", None, self.start_download)
        self._action(file_menu, "Download the &listeners only…", None, lambda: self.download_listeners(None))
        self._action(file_menu, "&Try the demo (random weights, gibberish)", None, win.load_demo)
        file_menu.addSeparator()
        self._action(file_menu, "&Export conversation…", "export", lambda: win.export_dialog())
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", "quit", win.close)
        conv = bar.addMenu("&Conversation")
        self.new = self._action(conv, "&New conversation", "new", win.new_conversation)
        self.history = self._action(conv, "&History…", "history", lambda: show_history(win))
        self.stop = self._action(conv, "&Stop reply", "stop", win.stop_reply)
        self._action(conv, "&Replay the last reply", "replay", win.replay_last_reply)
        conv.addAction("Talk: hold F2 (in either mode)").setEnabled(False)
        view = bar.addMenu("&View")
        self.show_emotion = self._action(view, "Show &emotion labels", "emotion", None)
        self.show_emotion.setCheckable(True)
        self.show_emotion.toggled.connect(win.set_show_emotion)
        self.inspector = self._action(view, "What the app &heard…", "inspector", win.inspector.show)
        self._action(bar.addMenu("&Settings"), "&Preferences…", "settings", self.open_settings)
        help_menu = bar.addMenu("&Help")
        self.shortcuts = self._action(help_menu, "&Keyboard shortcuts", "shortcuts", self.show_shortcuts)
        win.welcome.open_clicked.connect(win.open_checkpoint_dialog)
        win.welcome.download_clicked.connect(self.start_download)
        win.welcome.listeners_clicked.connect(lambda: self.download_listeners(None))
        # the text box hands these keys to the window instead of using them for editing (Ctrl+E = end of line)
        win.controls.entry.app_shortcuts = {QKeySequence(k).toString() for k in SHORTCUTS.values()}
        self.refresh_recent()

    def _action(self, menu, text: str, key: str | None, slot) -> QAction:
        action = QAction(text, self.win)
        if key:
            action.setShortcut(QKeySequence(SHORTCUTS[key]))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            self.by_key[key] = action
        if slot is not None:
            action.triggered.connect(slot)
        menu.addAction(action)
        self.win.addAction(action)  # shortcuts work while the menu bar is hidden too
        return action

    def shortcut_rows(self) -> list[tuple[str, str]]:
        rows = [(a.shortcut().toString(QKeySequence.SequenceFormat.NativeText), a.text().replace("&", ""))
                for a in self.by_key.values()]
        return rows + list(EXTRA_KEYS)

    def show_shortcuts(self) -> ShortcutsDialog:
        log.info("showing the keyboard shortcuts")
        dlg = ShortcutsDialog(self.shortcut_rows(), self.win)
        dlg.setModal(False)  # a reference card: the window keeps working beside it
        dlg.show()
        self.win.shortcuts_dialog = dlg
        return dlg

    def refresh_recent(self) -> None:
        self.recent_menu.clear()
        for r in self.win.settings.recent:
            label = r.label or Path(r.checkpoint).name
            act = self.recent_menu.addAction(f"{label}  ({r.checkpoint})")
            act.triggered.connect(lambda _=False, r=r: self.win.load(LoadRequest(r.checkpoint, r.decoder, r.label)))
        self.recent_menu.setEnabled(bool(self.win.settings.recent))

    def open_settings(self) -> SettingsDialog:
        lines = {name: listener_line(st, self.win.listener_downloadable(name))[0]
                 for name, st in self.win.presenter.listener_status.items()}
        dlg = SettingsDialog(self.win.settings, audio_devices(self.win.session.audio), self.win, lines)
        dlg.download_listener.connect(lambda name: self.download_listeners([name]))
        self.win.settings_dialog = dlg
        dlg.accepted.connect(lambda: dlg.result is not None and self.win.update_settings(dlg.result,
                                                                                          restart_engine=True))
        dlg.open()
        return dlg

    # -- downloads ------------------------------------------------------------------------------------------------
    def _listener_repos(self, names: list[str] | None) -> list[str]:
        """The usual hub models of `names` (None: all three)."""
        return [LISTENER_REPOS[n] for n in (names or list(LISTENER_REPOS))]

    def start_download(self) -> HubDownloader | None:
        """OpenS2S + its speech decoder + the three listeners, after the user confirms size and destination."""
        repos = self._listener_repos(None)
        targets = (*default_targets(self.win.data_root), *listener_targets(repos))
        what = "OpenS2S, its speech decoder and the listener models (transcript, emotions)"
        return self._download(targets, what, load_model=True)

    def download_listeners(self, names: list[str] | str | None) -> HubDownloader | None:
        names = [names] if isinstance(names, str) else names
        repos = self._listener_repos(names)
        titles = ", ".join(LISTENER_TITLES[n] for n in (names or list(LISTENER_REPOS)))
        what = f"the listener models ({titles}; {approx_size_text(repos)})"
        return self._download(listener_targets(repos), what, load_model=False)

    def _download(self, targets: tuple[RepoTarget, ...], what: str, load_model: bool) -> HubDownloader | None:
        if self.downloader is not None and self.downloader.isRunning() and not self.downloader.is_cancelled:
            self.win.statusBar().showMessage("A download is already running.", 6000)
            return self.downloader
        log.info("download: asking about %s", ", ".join(t.repo_id for t in targets))
        dl = HubDownloader(targets, parent=self.win, **self.download_fns)
        self.downloader = dl
        dl.finished_ok.connect(lambda dirs: self._downloaded(dl, dirs, load_model))
        dl.failed.connect(lambda msg: self._failed(dl, msg))
        dialog = DownloadDialog(dl, what, self.win)
        dialog.user_cancelled.connect(lambda: self.win.statusBar().showMessage("Download cancelled.", 6000))
        self.download_dialog = dialog
        dl.start()
        dialog.open()
        return dl

    def _failed(self, dl: HubDownloader, message: str) -> None:
        if dl.is_cancelled:
            return  # the user already saw "Download cancelled."
        self.win.last_error_box = show_error(self.win, "Download failed", message)

    def _downloaded(self, dl: HubDownloader, dirs: list, load_model: bool) -> None:
        if dl.is_cancelled:
            return
        self.win.statusBar().showMessage("Download complete.", 6000)
        self.win.session.reload_listeners()  # listeners that were "not downloaded" load now
        if load_model:
            model, decoder = dirs[:2]
            self.win.load(LoadRequest(model, decoder, "OpenS2S"))
