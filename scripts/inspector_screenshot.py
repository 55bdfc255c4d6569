"""Render the "what the app heard" inspector offscreen, fed the synthetic session of testing/inspector_events.py:
docs/img/inspector.png (an early commit by the course model) and inspector_silence.png (a turn the longest silence
ended, with a paused and resumed reply).

    QT_QPA_PLATFORM=offscreen python scripts/inspector_screenshot.py docs/img
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

THEME_ENV = "OPENS2S_COMPANION_THEME"
SIZE = (900, 600)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out_dir", type=Path)
    out = p.parse_args(argv).out_dir
    out.mkdir(parents=True, exist_ok=True)
    os.environ[THEME_ENV] = os.environ.get(THEME_ENV, "light")
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QApplication, QWidget

    from testing.inspector_events import session_events
    from ui.app_main import load_style
    from ui.inspector import Inspector
    from ui.theme import apply_theme

    class Source(QObject):
        event = Signal(object)

    app = QApplication.instance() or QApplication([])
    apply_theme(app)
    host, source = QWidget(), Source()
    host.setStyleSheet(load_style())
    insp = Inspector(host, source)
    for ev in session_events():
        source.event.emit(ev)
    dlg = insp.show()
    dlg.resize(*SIZE)
    for turn_id, name in ((1, "inspector.png"), (2, "inspector_silence.png")):
        dlg.select(turn_id)
        app.processEvents()
        dlg.grab().save(str(out / name))
        print(out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
