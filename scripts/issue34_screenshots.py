"""Render issue 34's screenshots offscreen, from synthetic turns and a made-up laptop sound card (no model, no
network): Settings over the window on a 1366x768 screen, the Turn-taking tab refusing a value, the Audio tab's device
list, and the window at its 640x500 minimum.

    QT_QPA_PLATFORM=offscreen python scripts/issue34_screenshots.py docs/img

writes settings_1366x768.png, settings_turn_taking.png, settings_audio.png and small_640x500.png there.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.history_screenshot import emit_turn, open_window  # noqa: E402
from scripts.ui_screenshots import THEME_ENV, pause  # noqa: E402
from testing.fake_audio import FakeAudio  # noqa: E402

SCREEN = (1366, 768)
PANEL_PX = 32  # the desktop's top panel: the free area is 1366 x 736
TITLE_BAR_PX = 30  # a window manager's title bar, drawn over the grabs
SMALL = (640, 500)
LAPTOP_DEVICES = (  # what PortAudio lists on a PulseAudio laptop with a USB headset plugged in
    {"name": "Built-in Audio Analog Stereo", "max_input_channels": 2, "max_output_channels": 2,
     "default_samplerate": 48000.0},
    {"name": "Built-in Audio Digital Stereo (HDMI)", "max_input_channels": 0, "max_output_channels": 2,
     "default_samplerate": 48000.0},
    {"name": "USB Headset", "max_input_channels": 1, "max_output_channels": 2, "default_samplerate": 48000.0},
    {"name": "pulse", "max_input_channels": 32, "max_output_channels": 32, "default_samplerate": 44100.0},
    {"name": "default", "max_input_channels": 32, "max_output_channels": 32, "default_samplerate": 44100.0},
)
TURNS = (  # (user, spoken?, reply, user emotion, reply emotion), heard (None: played to the end)
    (("Tell me a story about a lighthouse.", True, "Once upon a time, on a rocky coast, a keeper "
      "climbed the tower every evening to light the lamp.", ("neutral", 0.66), ("happy", 0.72)), None),
    (("What was the keeper's name?", False, "Her name was Maren, and she kept the lamp burning for forty winters.",
      None, ("neutral", 0.64)), "Her name was Maren"),
    (("And the ships she saved?", False, "Hundreds: fishing boats, a mail steamer and once a whole regatta caught "
      "in the fog.", None, ("happy", 0.58)), None),
)


class LaptopAudio(FakeAudio):
    """FakeAudio whose device list (`query_devices()` without arguments) is LAPTOP_DEVICES; streams stay fake."""

    def query_devices(self, device=None, kind=None):
        if device is None and kind is None:
            return [dict(d) for d in LAPTOP_DEVICES]
        return super().query_devices(device, kind)


def _loaded(win) -> None:
    """The window as after a model load: the conversation page, listening, listeners on."""
    from core.engine.events import EngineState, StateChanged
    from core.listeners.events import ListenerStatus

    win.strip.set_model("Model: OpenS2S")
    win.pages.setCurrentWidget(win.view)
    win.controls.set_ready(True)
    win.presenter.set_listener_statuses({n: ListenerStatus(n, True, "ready", f"/models/{n}")
                                         for n in ("asr", "user_emotion", "assistant_emotion")})
    win.presenter.handle(StateChanged(EngineState.IDLE, EngineState.LISTENING, "started"))


def _turns(win, first: int, last: int) -> None:
    """TURNS[first - 1:last] (turn ids from `first`), as the engine reports them."""
    for tid in range(first, last + 1):
        turn, heard = TURNS[tid - 1]
        emit_turn(win, tid, turn, heard)


def _framed(painter, x: int, y: int, title: str, image) -> None:
    """`image` at (x, y + title bar) under a plain title bar reading `title`."""
    from PySide6.QtCore import QRect, Qt
    from PySide6.QtGui import QColor

    bar = QRect(x, y, image.width(), TITLE_BAR_PX)
    painter.fillRect(bar, QColor("#d6d8dc"))
    painter.setPen(QColor("#202124"))
    painter.drawText(bar.adjusted(12, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter, title)
    painter.drawPixmap(x, y + TITLE_BAR_PX, image)
    painter.setPen(QColor("#9aa0a6"))
    painter.drawRect(QRect(x, y, image.width() - 1, TITLE_BAR_PX + image.height() - 1))


def _on_screen(win, dlg):
    """A 1366x768 screen: the panel, the window maximized under it, the dialog centred on the window."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QColor, QPainter, QPixmap

    width, height = SCREEN
    canvas = QPixmap(width, height)
    canvas.fill(QColor("#1f1f1f"))
    p = QPainter(canvas)
    p.setPen(QColor("#e8eaed"))
    p.drawText(12, 0, 400, PANEL_PX, Qt.AlignmentFlag.AlignVCenter, f"{width} × {height} screen ({PANEL_PX} px panel)")
    _framed(p, 0, PANEL_PX, "OpenS2S Companion", win.grab())
    shot = dlg.grab()
    top = PANEL_PX + max(0, (height - PANEL_PX - TITLE_BAR_PX - shot.height()) // 2)
    _framed(p, (width - shot.width()) // 2, top, f"Settings  ({shot.width()} × {shot.height()} px + title bar)", shot)
    p.end()
    return canvas


def _with_popup(dlg, box):
    """The dialog's grab with `box`'s open list drawn where Qt opened it (offscreen a popup is a window of its own,
    left out of the dialog's grab)."""
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QPainter

    shot = dlg.grab()
    p = QPainter(shot)
    popup = box.view().window()
    p.drawPixmap(dlg.mapFromGlobal(popup.mapToGlobal(QPoint(0, 0))), popup.grab())
    p.end()
    return shot


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out_dir", type=Path)
    out = p.parse_args(argv).out_dir
    out.mkdir(parents=True, exist_ok=True)
    os.environ[THEME_ENV] = "light"
    from PySide6.QtCore import QRect
    from PySide6.QtWidgets import QApplication

    from app.settings import AppSettings
    from ui.theme import apply_theme

    app = QApplication.instance() or QApplication([])
    apply_theme(app)
    with tempfile.TemporaryDirectory() as d:
        win = open_window(Path(d), LaptopAudio(speed=1.0), AppSettings(output_device="USB Headset"))
        win.resize(SCREEN[0], SCREEN[1] - PANEL_PX - TITLE_BAR_PX)  # maximized under the panel
        win.show()
        _loaded(win)
        _turns(win, 1, 2)  # all on screen at this size
        pause(app, 0.3)
        dlg = win.actions_.open_settings()
        dlg.fit_to_screen(QRect(0, PANEL_PX, SCREEN[0], SCREEN[1] - PANEL_PX))  # the screen's free area
        dlg.tabs.setCurrentWidget(dlg.pages["Turn-taking"])
        pause(app, 0.3)
        _on_screen(win, dlg).save(str(out / "settings_1366x768.png"))
        dlg.start_threshold.setValue(0.5)
        dlg.stop_threshold.setValue(0.9)  # above the start threshold: refused, both fields marked
        dlg.accept()
        pause(app, 0.3)
        dlg.grab().save(str(out / "settings_turn_taking.png"))
        dlg.reject()
        dlg = win.actions_.open_settings()
        dlg.fit_to_screen(QRect(0, PANEL_PX, SCREEN[0], SCREEN[1] - PANEL_PX))
        dlg.tabs.setCurrentWidget(dlg.pages["Audio"])
        pause(app, 0.3)
        dlg.input_device.showPopup()  # the microphones (inputs only); the duplex row below stays in view
        pause(app, 0.3)
        _with_popup(dlg, dlg.input_device).save(str(out / "settings_audio.png"))
        dlg.input_device.hidePopup()
        dlg.reject()
        _turns(win, 3, len(TURNS))
        win.resize(*SMALL)
        pause(app, 0.3)
        pause(app, 0.2)
        win.grab().save(str(out / "small_640x500.png"))
        win.shutdown()
        win.close()
    for name in ("settings_1366x768", "settings_turn_taking", "settings_audio", "small_640x500"):
        print(out / f"{name}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
