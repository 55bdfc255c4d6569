"""Light or dark, following the system: the style sheet (assets/style.qss + style_dark.qss) and the icons.

`apply_theme(app)` installs the sheet for the system's current colour scheme and re-applies it when the
system switches (QStyleHints.colorSchemeChanged). Platforms that report no scheme (offscreen, bare X11) are
judged by their palette; OPENS2S_COMPANION_THEME=dark|light overrides. Icons are SVG files in assets/icons,
named `<name>-<tone>.svg`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QIcon

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent.parent / "assets"
LIGHT_SHEET = ASSETS / "style.qss"
DARK_SHEET = ASSETS / "style_dark.qss"
ICON_DIR = ASSETS / "icons"
TONES = ("gray", "white", "red", "light")
THEME_ENV = "OPENS2S_COMPANION_THEME"  # dark | light: override the system (screenshots, odd desktops)
DARK_LIGHTNESS = 128


def is_dark() -> bool:
    """The system's scheme (QStyleHints), else the platform palette's window colour; THEME_ENV=dark|light wins."""
    forced = os.environ.get(THEME_ENV, "").strip().lower()
    if forced in ("dark", "light"):
        return forced == "dark"
    app = QGuiApplication.instance()
    if app is None:
        return False
    scheme = app.styleHints().colorScheme()
    if scheme != Qt.ColorScheme.Unknown:
        return scheme == Qt.ColorScheme.Dark
    return QGuiApplication.palette().window().color().lightness() < DARK_LIGHTNESS


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        log.warning("no style sheet %s (%s); using the platform style", path.name, err)
        return ""


def style_sheet(dark: bool | None = None) -> str:
    """The light sheet, plus the dark overrides when `dark` (default: the system's scheme)."""
    dark = is_dark() if dark is None else dark
    return _read(LIGHT_SHEET) + ("\n" + _read(DARK_SHEET) if dark else "")


def icon(name: str, tone: str = "gray") -> QIcon:
    """assets/icons/<name>-<tone>.svg; gray icons turn light in dark mode."""
    if tone == "gray" and is_dark():
        tone = "light"
    path = ICON_DIR / f"{name}-{tone}.svg"
    if not path.is_file():
        raise FileNotFoundError(f"missing icon {path}")
    return QIcon(str(path))


def apply_theme(app) -> None:
    """Install the sheet now and whenever the system's colour scheme changes."""
    app.setStyleSheet(style_sheet())
    hints = app.styleHints()
    if not getattr(app, "_opens2s_theme_hooked", False):
        hints.colorSchemeChanged.connect(lambda _scheme: _reapply(app))
        app._opens2s_theme_hooked = True


def _reapply(app) -> None:
    log.info("system colour scheme changed: %s", "dark" if is_dark() else "light")
    app.setStyleSheet(style_sheet())
    for w in app.topLevelWidgets():
        refresh = getattr(w, "refresh_icons", None)
        if refresh is not None:
            refresh()
