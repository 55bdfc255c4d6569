"""Render the documentation screenshots offscreen: the first-run guide, a conversation with emotion labels
(tiny demo model + tiny listeners, a fake sound card, a spoken espeak-ng turn and a typed turn) and Settings.

    QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS=1 python scripts/ui_screenshots.py docs/img
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

log = logging.getLogger(__name__)

TIMEOUT_S = 120.0
WINDOW_SIZE = (980, 680)


def _spin(app, pred, timeout_s: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        app.processEvents()
        time.sleep(0.005)


def _pause(app, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.005)


def _speech(tmp: Path, rate_hz: int):
    import numpy as np
    import soxr

    from core.audio.espeak import espeak

    x, rate = espeak("Hi! I had a really great day today.", tmp)
    y = soxr.resample(x, rate, rate_hz).astype(np.float32)
    return np.concatenate([np.zeros(rate_hz // 4, np.float32), y, np.zeros(rate_hz, np.float32)])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out_dir", type=Path)
    args = p.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    from PySide6.QtWidgets import QApplication

    from app.demo import DEMO_LABEL, ensure_demo
    from app.fake_audio import FakeAudio
    from app.model_loader import LoadRequest, load_models
    from app.replay import ReplayPlayer
    from app.session import Session
    from app.settings import AppSettings, SettingsStore
    from models.listeners.tiny import write_tiny_listeners
    from ui.app_main import load_style
    from ui.main_window import MainWindow
    from ui.settings_dialog import SettingsDialog

    app = QApplication.instance() or QApplication([])
    app.setStyleSheet(load_style())
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        dirs = write_tiny_listeners(tmp / "listeners")
        settings = AppSettings(temperature=1.0, max_text_tokens=32, max_units=64, asr_checkpoint=str(dirs["asr"]),
                               ser_checkpoint=str(dirs["ser"]), text_emotion_checkpoint=str(dirs["text_emotion"]))
        store = SettingsStore(tmp / "config")
        store.save(settings)
        audio = FakeAudio(speed=2.0)
        win = MainWindow(Session(settings, audio=audio), store, tmp / "data", ReplayPlayer(audio))
        win.resize(*WINDOW_SIZE)
        win.show()
        _pause(app, 0.3)
        win.grab().save(str(args.out_dir / "welcome.png"))
        model, decoder = ensure_demo(tmp / "data")
        req = LoadRequest(str(model), str(decoder), DEMO_LABEL)
        models = load_models(req, settings, lambda *_: None)
        win.load(req, load_fn=lambda *_: models)
        _spin(app, lambda: win.strip.state_name == "listening")
        ended: list[int] = []
        win.presenter.reply_ended.connect(ended.append)
        audio.mic.inject(_speech(tmp, audio.in_rate_hz))
        _spin(app, lambda: len(ended) >= 1)
        _spin(app, lambda: win.strip.state_name == "listening")
        _pause(app, 1.0)  # transcript and emotions settle
        win.send_text("Tell me something nice.")
        _spin(app, lambda: win.strip.state_name == "speaking")
        win.grab().save(str(args.out_dir / "conversation.png"))
        _spin(app, lambda: len(ended) >= 2)
        dlg = SettingsDialog(dataclasses.replace(settings), ["fake"], win)
        dlg.show()
        _pause(app, 0.3)
        dlg.grab().save(str(args.out_dir / "settings.png"))
        dlg.close()
        win.close()
    print(f"screenshots written to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
