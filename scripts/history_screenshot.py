"""Render docs/img/history.png offscreen: the history view (Ctrl+H) with three past conversations, one selected.

    QT_QPA_PLATFORM=offscreen python scripts/history_screenshot.py docs/img
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

THEME_ENV = "OPENS2S_COMPANION_THEME"
DAY_S = 86400.0
CONVERSATIONS = (  # (days ago, [(user, spoken?, reply, user emotion, reply emotion)])
    (6.2, [("What should I plant on a north-facing balcony?", False, "Ferns, hostas and mint do well in shade; "
            "they need little direct sun.", None, ("neutral", 0.71))]),
    (1.1, [("I had a really great day today.", True, "That's wonderful! What made it so good?", ("happy", 0.82),
            ("happy", 0.77)),
           ("My sister visited and we baked bread.", True, "Baking together sounds lovely. Did the bread turn out "
            "well?", ("happy", 0.64), ("happy", 0.69))]),
    (0.05, [("Give me three ideas for a rainy Sunday.", False, "A board game, a long film, or a new soup recipe.",
             None, ("neutral", 0.58)),
            ("The soup, please. Something with lentils.", False, "Red lentil soup: onion, carrot, cumin, lentils "
             "and stock; 25 minutes.", None, ("neutral", 0.62))]),
)


def emit_turn(win, tid: int, turn, heard: str | None = None) -> None:
    """One turn as the engine reports it (the window shows and journals it); `heard`: the reply was stopped there."""
    from core.engine.events import ReplyAudio, ReplyEnded, ReplyText, UserTextSubmitted, UserTurnCaptured
    from core.listeners.events import TurnEmotion, UserTranscript
    from core.lm.events import AudioChunk, EmotionLabel, StopReason, TextDelta
    from testing.journal_events import tone

    emit = win.session.event.emit
    text, is_spoken, answer, user_emotion, reply_emotion = turn
    if is_spoken:
        emit(UserTurnCaptured(tid, tone(1.8, 16000), 16000, 0.0, 1.8, 1.8, "semantic"))
        emit(UserTranscript(tid, text, True))
    else:
        emit(UserTextSubmitted(tid, text))
    if user_emotion:
        emit(TurnEmotion(tid, EmotionLabel("user", *user_emotion)))
    emit(ReplyText(tid, TextDelta(answer, ())))
    emit(ReplyAudio(tid, AudioChunk(tone(2.0, 22050, 330.0), 22050, 0, True)))
    stopped = heard is not None and heard != answer
    emit(ReplyEnded(tid, StopReason.CANCELLED if stopped else StopReason.EOS, answer, heard if stopped else answer,
                    stopped, 2.0, 2.0, 0))
    emit(TurnEmotion(tid, EmotionLabel("assistant", *reply_emotion)))


def _age(folder: Path, days_ago: float) -> None:
    """Make a filed conversation look `days_ago` old (its start line and times), for the picture."""
    log = folder / "journal.jsonl"
    lines = log.read_text().splitlines()
    first = json.loads(lines[0])
    first["started"] = time.time() - days_ago * DAY_S
    log.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    os.utime(log, (first["started"] + 300, first["started"] + 300))
    (folder / "meta.json").unlink(missing_ok=True)


def open_window(tmp: Path, audio=None, settings=None):
    """A main window (no model) on a fresh settings store and data folder under `tmp`, with `settings` (default:
    the defaults) and a fake sound card."""
    from app.settings import AppSettings, SettingsStore
    from app.window.replay import ReplayPlayer
    from app.window.session import Session
    from testing.fake_audio import FakeAudio
    from ui.main_window import MainWindow

    store = SettingsStore(tmp / "config")
    store.save(settings or AppSettings())
    audio = audio or FakeAudio(speed=1.0)
    return MainWindow(Session(store.load(), audio=audio), store, tmp / "data", ReplayPlayer(audio))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out_dir", type=Path)
    out = p.parse_args(argv).out_dir
    os.environ[THEME_ENV] = "light"
    from PySide6.QtWidgets import QApplication

    from ui.history_view import show_history
    from ui.theme import apply_theme

    app = QApplication.instance() or QApplication([])
    apply_theme(app)
    with tempfile.TemporaryDirectory() as d:
        win = open_window(Path(d))
        win.resize(980, 680)
        win.show()
        tid = 0
        for days_ago, turns in CONVERSATIONS:
            for turn in turns:
                tid += 1
                emit_turn(win, tid, turn)
            _age(win.journal.new_conversation().path, days_ago)
        dlg = show_history(win)
        dlg.resize(980, 620)
        dlg.list.setCurrentRow(1)
        for _ in range(20):
            app.processEvents()
            time.sleep(0.02)
        out.mkdir(parents=True, exist_ok=True)
        dlg.grab().save(str(out / "history.png"))
        dlg.close()
        win.shutdown()
        win.close()
    print(out / "history.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
