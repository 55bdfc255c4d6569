"""Render the documentation screenshots offscreen: the first-run guide, the download confirmation, a
conversation with emotion labels (the demo: tiny model, decoder and listeners; a fake sound card, a spoken
espeak-ng turn and a typed turn), Settings, the shortcuts card, two errors, dark mode and 800x600.

    QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS=1 python scripts/ui_screenshots.py docs/img
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

log = logging.getLogger(__name__)
THEME_ENV = "OPENS2S_COMPANION_THEME"

TIMEOUT_S = 120.0
WINDOW_SIZE = (980, 680)


def _spin(app, pred, timeout_s: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        app.processEvents()
        time.sleep(0.005)


def pause(app, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.005)


def _speech(tmp: Path, rate_hz: int):
    import numpy as np
    import soxr

    from testing.espeak import espeak

    x, rate = espeak("Hi! I had a really great day today.", tmp)
    y = soxr.resample(x, rate, rate_hz).astype(np.float32)
    return np.concatenate([np.zeros(rate_hz // 4, np.float32), y, np.zeros(rate_hz, np.float32)])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out_dir", type=Path)
    args = p.parse_args(argv)
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    os.environ[THEME_ENV] = "light"
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from app.settings import AppSettings, SettingsStore
    from app.window.model_loader import LoadRequest
    from app.window.replay import ReplayPlayer
    from app.window.session import Session
    from testing.fake_audio import FakeAudio
    from ui.main_window import MainWindow
    from ui.settings_dialog import SettingsDialog
    from ui.theme import apply_theme

    app = QApplication.instance() or QApplication([])
    apply_theme(app)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        settings = AppSettings(temperature=1.0)
        store = SettingsStore(tmp / "config")
        store.save(settings)
        audio = FakeAudio(speed=1.0)
        win = MainWindow(Session(settings, audio=audio), store, tmp / "data", ReplayPlayer(audio))
        win.resize(*WINDOW_SIZE)
        win.show()
        pause(app, 0.3)
        win.grab().save(str(out / "welcome.png"))
        # the download asks first: size and destination (a fake listing; nothing is fetched)
        sizes = {"CASIA-LM/OpenS2S": 17_900_000_000, "THUDM/glm-4-voice-decoder": 2_600_000_000}
        win.actions_.download_fns = {"list_files": lambda repo: [("model.safetensors", sizes.get(repo, 3e8))]}
        win.actions_.start_download()
        _spin(app, win.actions_.download_dialog.start_button.isEnabled)
        pause(app, 0.2)
        win.actions_.download_dialog.grab().save(str(out / "download_confirm.png"))
        win.actions_.download_dialog.reject()
        win.actions_.download_fns = {}
        # the demo: tiny random model, decoder and listeners
        loaded: list[str] = []
        win.model_loaded.connect(loaded.append)
        win.load_demo()
        _spin(app, lambda: bool(loaded) and win.strip.state_name == "listening")
        _spin(app, lambda: "Reply emotion: on" in win.strip.listeners.toolTip())
        ended: list[int] = []
        win.presenter.reply_ended.connect(ended.append)
        audio.mic.inject(_speech(tmp, audio.in_rate_hz))
        _spin(app, lambda: len(ended) >= 1)
        _spin(app, lambda: win.strip.state_name == "listening")
        pause(app, 1.0)  # transcript and emotions settle
        win.send_text("Tell me something nice.")
        _spin(app, lambda: win.strip.state_name == "speaking")
        pause(app, 0.6)
        win.grab().save(str(out / "conversation.png"))
        _spin(app, lambda: len(ended) >= 2)
        pause(app, 1.0)
        dlg = SettingsDialog(settings, ["Built-in microphone", "USB headset"], win,
                             {"asr": "Transcript: off — model not downloaded [Download]"})
        dlg.show()
        dlg.tabs.setCurrentIndex(1)
        pause(app, 0.3)
        dlg.grab().save(str(out / "settings.png"))
        dlg.tabs.setCurrentIndex(4)
        pause(app, 0.2)
        dlg.grab().save(str(out / "settings_listeners.png"))
        dlg.close()
        win.actions_.show_shortcuts()
        pause(app, 0.2)
        win.shortcuts_dialog.grab().save(str(out / "shortcuts.png"))
        win.shortcuts_dialog.close()
        # errors: a folder that is not a checkpoint; offline download
        failed: list[str] = []
        win.load_failed.connect(failed.append)
        win.load(LoadRequest(str(tmp / "no-such-folder"), str(tmp / "no-such-decoder"), "x"))
        _spin(app, lambda: bool(failed))
        pause(app, 0.2)
        win.last_error_box.grab().save(str(out / "error_checkpoint.png"))
        win.last_error_box.close()
        os.environ["HF_ENDPOINT"] = "http://hub.invalid"
        win.last_error_box = None
        win.actions_.start_download()
        _spin(app, lambda: win.last_error_box is not None)
        pause(app, 0.2)
        win.last_error_box.grab().save(str(out / "error_offline.png"))
        win.last_error_box.close()
        # dark mode: the system switches
        os.environ[THEME_ENV] = "dark"
        app.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Dark)
        pause(app, 0.3)
        win.grab().save(str(out / "dark.png"))
        os.environ[THEME_ENV] = "light"
        app.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Light)
        win.resize(800, 600)
        pause(app, 0.3)
        win.grab().save(str(out / "small_800x600.png"))
        win.close()
    print(f"screenshots written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
