"""The finished look: dark mode follows the system, the window works at 800x600 and at 1.5x scaling, icons are
SVG files from assets/, and the README's two commands exist (.ci/run calls the test one)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.ui.helpers import load_into

REPO = Path(__file__).resolve().parents[2]


def _brightness(widget) -> float:
    img = widget.grab().toImage()
    c = img.pixelColor(img.width() // 2, img.height() // 2)
    return (c.red() + c.green() + c.blue()) / 3


def test_dark_mode_follows_the_system(qtbot, make_window, monkeypatch):
    """The offscreen platform reports no colour scheme, so the system's switch is played by the theme override
    plus the very signal Qt emits when the desktop switches (QStyleHints.colorSchemeChanged)."""
    from ui.theme import DARK_SHEET, THEME_ENV, apply_theme

    app = QApplication.instance()
    win = make_window()
    win.setStyleSheet("")  # the app-wide sheet decides, as in the real app
    hints = app.styleHints()
    try:
        monkeypatch.setenv(THEME_ENV, "light")
        apply_theme(app)
        qtbot.wait(50)
        light = _brightness(win.welcome)
        assert DARK_SHEET.read_text()[:60] not in app.styleSheet()
        monkeypatch.setenv(THEME_ENV, "dark")
        hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)  # the desktop switched
        assert DARK_SHEET.read_text()[:60] in app.styleSheet()
        qtbot.wait(50)
        dark = _brightness(win.welcome)
        assert light > 200 and dark < 60, (light, dark)
    finally:
        app.setStyleSheet("")


def _no_overlap(widgets) -> bool:
    rects = [(w, w.geometry()) for w in widgets if w.isVisible()]
    return all(not a[1].intersects(b[1]) for i, a in enumerate(rects) for b in rects[i + 1:])


def test_works_at_800x600(qtbot, make_window, tiny_models):
    win = make_window()
    win.resize(800, 600)
    qtbot.wait(100)
    assert win.width() == 800 and win.height() == 600
    for b in win.welcome.buttons.values():  # every choice of the guide is on screen
        top_left = b.mapTo(win, b.rect().topLeft())
        assert b.isVisible() and top_left.y() + b.height() <= win.height() and b.width() > 300
    load_into(qtbot, win, tiny_models)
    c = win.controls
    widgets = [c.mode, c.talk, c.stop, c.entry, c.send]
    assert _no_overlap(widgets) and c.send.geometry().right() <= c.width()
    assert c.entry.width() >= 120
    assert all(w.width() >= w.minimumSizeHint().width() for w in widgets)


SCALED = """
import sys
from pathlib import Path
from PySide6.QtWidgets import QApplication
app = QApplication([])
from ui.theme import apply_theme
apply_theme(app)
from app.window.replay import ReplayPlayer
from app.window.session import Session
from app.settings import AppSettings, SettingsStore
from tests.engine_fakes import FakeAudio
from ui.main_window import MainWindow
out = Path(sys.argv[1])
audio = FakeAudio()
win = MainWindow(Session(AppSettings(), audio=audio), SettingsStore(out / "cfg"), out / "data", ReplayPlayer(audio))
win.resize(800, 600)
win.show()
for _ in range(20):
    app.processEvents()
c = win.controls
ws = [c.mode, c.talk, c.stop, c.entry, c.send]
ok = all(not a.geometry().intersects(b.geometry()) for i, a in enumerate(ws) for b in ws[i + 1:])
fits = all(b.mapTo(win, b.rect().bottomLeft()).y() <= win.height() for b in win.welcome.buttons.values())
img = win.grab()
img.save(str(out / "scaled.png"))
print(f"ratio={win.devicePixelRatio()} size={img.width()}x{img.height()} ok={ok} fits={fits}")
win.shutdown()
"""


def test_works_at_one_and_a_half_scaling(tmp_path):
    env = dict(os.environ, QT_SCALE_FACTOR="1.5", QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO))
    res = subprocess.run([sys.executable, "-c", SCALED, str(tmp_path)], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    line = res.stdout.strip().splitlines()[-1]
    assert line == "ratio=1.5 size=1200x900 ok=True fits=True", line


def test_icons_are_svg_files_from_assets():
    from ui.theme import ICON_DIR, TONES

    used = set()
    for path in (REPO / "ui").glob("*.py"):
        used |= set(re.findall(r'"([a-z-]+)"', path.read_text())) & {p.stem.rsplit("-", 1)[0] for p in
                                                                      ICON_DIR.glob("*.svg")}
        assert not re.search(r"[\U0001F300-\U0001FAFF]", path.read_text()), f"emoji in {path.name}"
    assert {"mic", "mic-off", "stop", "play", "send", "download", "folder", "demo"} <= used
    for name in used:
        for tone in TONES:
            svg = ICON_DIR / f"{name}-{tone}.svg"
            assert svg.is_file() and svg.read_text().startswith("<svg"), svg


def test_two_commands_in_the_readme_and_ci_uses_them():
    head = "\n".join((REPO / "README.md").read_text().splitlines()[:8])
    assert "./run" in head and "./test" in head
    for script in ("run", "test"):
        path = REPO / script
        assert path.is_file() and os.access(path, os.X_OK)
        assert "bash .ci/install" in path.read_text()  # installs when needed
    assert "./test" in (REPO / ".ci" / "run").read_text()
    res = subprocess.run(["bash", "-n", str(REPO / "run")], capture_output=True)
    assert res.returncode == 0
