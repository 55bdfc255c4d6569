"""The desktop app's entry: QApplication + qasync event loop, the main window, clean shutdown on close/SIGTERM.

`run_gui(options)` returns the process exit code (0 after a clean close). The window opens at once; a model
given with --checkpoint/--decoder (or the last one used) loads on a worker thread; with none, the welcome panel
guides the user (download, open a folder, or the offline demo).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STYLE_FILE = Path(__file__).resolve().parent.parent / "assets" / "style.qss"
SIGNAL_POLL_MS = 200  # lets Python signal handlers run while Qt's loop is in C++
APP_DISPLAY_NAME = "OpenS2S Companion"


@dataclass(frozen=True)
class GuiOptions:
    checkpoint: str | None = None
    decoder: str | None = None
    demo: bool = False
    quit_after_s: float | None = None
    send_text: str | None = None  # type this message once the model is loaded (demos, screenshots)
    audio: Any = None  # a sounddevice-like backend; None = sounddevice


def load_style() -> str:
    """The style sheet for the system's current colour scheme (ui.theme)."""
    from ui.theme import style_sheet

    return style_sheet()


def build_window(options: GuiOptions, store: Any = None, data_root: Path | None = None):
    """The window with its session, replay player and start-up model load (needs a QApplication)."""
    from app.settings import SettingsStore, data_dir
    from app.window.model_loader import LoadRequest
    from app.window.replay import ReplayPlayer
    from app.window.session import Session
    from ui.main_window import MainWindow

    store = store or SettingsStore()
    settings = store.load()
    root = data_root or data_dir()
    session = Session(settings, audio=options.audio)
    replay = ReplayPlayer(options.audio, settings.config().engine.audio.output_device)
    win = MainWindow(session, store, root, replay)
    win.offer_restore()  # the last run's conversation, if it left one (app/window/journal.py)
    if options.send_text:
        win.model_loaded.connect(lambda _label: win.send_text(options.send_text))
    if options.demo:
        win.load_demo()
    elif options.checkpoint or options.decoder:
        win.load(LoadRequest(options.checkpoint or "", options.decoder or "", Path(options.checkpoint or "").name))
    elif settings.checkpoint and settings.decoder:
        recent = next((r for r in settings.recent if r.checkpoint == settings.checkpoint), None)
        win.load(LoadRequest(settings.checkpoint, settings.decoder, recent.label if recent else ""))
    return win


def _no_weight_loading_bars() -> None:
    """transformers draws a "Loading weights" bar on stderr for every load; the window loads the three listeners
    on their own threads, and those bars are written beside the log without its lock. Python's text streams are
    not thread-safe: log lines were lost (a test waited 120 s for "assistant_emotion: ready", which the app had
    logged). The window shows load progress itself."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def run_gui(options: GuiOptions) -> int:
    import qasync
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.settings import data_dir
    from app.window.instance_lock import AlreadyRunning, hold_instance_lock

    _no_weight_loading_bars()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    try:
        hold_instance_lock(data_dir())  # one window per data dir (journal, demo model), for this process's life
    except AlreadyRunning as err:
        _tell_already_running(str(err))
        raise  # the CLI prints it as one line and exits 2
    app.setApplicationDisplayName(APP_DISPLAY_NAME)
    from ui.theme import apply_theme

    apply_theme(app)  # light or dark, following the system (and its later changes)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    win = build_window(options)
    closed = asyncio.Event()
    app.lastWindowClosed.connect(closed.set)
    _install_signal_handlers(win)
    poll = QTimer()
    poll.start(SIGNAL_POLL_MS)
    poll.timeout.connect(lambda: None)
    if options.quit_after_s is not None:
        QTimer.singleShot(int(options.quit_after_s * 1000), win.close)
    win.show()
    log.info("window shown")
    with loop:
        loop.run_until_complete(closed.wait())
    clean = win.shutdown()
    log.info("exiting (clean=%s)", clean)
    return 0 if clean else 1


def _tell_already_running(message: str) -> None:
    """Started from a launcher there is no terminal for the one line: say it in a box too (not offscreen)."""
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QMessageBox

    if QGuiApplication.platformName() not in ("offscreen", "minimal"):
        QMessageBox.information(None, APP_DISPLAY_NAME, message)


def _install_signal_handlers(win: Any) -> None:
    from PySide6.QtCore import QTimer

    def _close(signum: int, _frame: Any) -> None:
        log.info("signal %d: closing the window", signum)
        QTimer.singleShot(0, win.close)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _close)
