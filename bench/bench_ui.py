"""GUI responsiveness while replies stream: the largest event-loop stall, measured as the lag of a 10 ms QTimer.

The real window (offscreen by default) drives the real engine with the tiny OpenS2S checkpoint + tiny decoder
(generated into a temp dir) through a fake real-time sound card. For each reply, a 10 ms timer records how
late every tick fires; the stall is `interval between ticks - 10 ms`. An idle phase (no reply) is the baseline.

    OMP_NUM_THREADS=1 python bench/bench_ui.py [--replies 3] [--listeners] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

log = logging.getLogger(__name__)

TICK_MS = 10
IDLE_S = 2.0
REPLY_TIMEOUT_S = 120.0
MESSAGES = ("Hello there, how are you?", "Tell me about your day.", "What is the weather like?")


class LagProbe:
    """A 10 ms QTimer recording the gap between consecutive ticks (ms)."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.gaps_ms: list[float] = []
        self._last = None
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.gaps_ms, self._last = [], time.perf_counter()
        self._timer.start()

    def stop(self) -> list[float]:
        self._timer.stop()
        return [g - TICK_MS for g in self.gaps_ms]

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps_ms.append((now - self._last) * 1000.0)
        self._last = now


def _spin_until(app, pred, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            return False
        app.processEvents()
        time.sleep(0.001)
    return True


def _build(tmp: Path, listeners: bool):
    from app.demo import ensure_demo
    from app.settings import AppSettings, SettingsStore
    from app.window.model_loader import LoadRequest, load_models
    from app.window.replay import ReplayPlayer
    from app.window.session import Session
    from testing.fake_audio import FakeAudio
    from ui.main_window import MainWindow

    model, decoder = ensure_demo(tmp / "data")
    settings = AppSettings(temperature=1.0, max_text_tokens=48, max_units=96, asr_checkpoint=None,
                           ser_checkpoint=None, text_emotion_checkpoint=None)
    if listeners:
        from models.listeners.tiny import write_tiny_listeners

        dirs = write_tiny_listeners(tmp / "listeners")
        settings = AppSettings(**{**settings.__dict__, "asr_checkpoint": str(dirs["asr"]),
                                  "ser_checkpoint": str(dirs["ser"]),
                                  "text_emotion_checkpoint": str(dirs["text_emotion"])})
    store = SettingsStore(tmp / "config")
    store.save(settings)
    audio = FakeAudio()
    session = Session(settings, audio=audio)
    win = MainWindow(session, store, tmp / "data", ReplayPlayer(audio))
    req = LoadRequest(str(model), str(decoder), "tiny")
    return win, req, load_models(req, settings, lambda *_: None)


def stats(lags: list[float]) -> dict:
    a = np.asarray(lags) if lags else np.zeros(1)
    return {"ticks": len(lags), "max_ms": float(a.max()), "p99_ms": float(np.percentile(a, 99)),
            "p50_ms": float(np.percentile(a, 50)), "over_50ms": int((a > 50).sum())}


def run(n_replies: int, listeners: bool) -> dict:
    from PySide6.QtWidgets import QApplication

    from ui.app_main import load_style

    app = QApplication.instance() or QApplication([])
    app.setStyleSheet(load_style())
    with tempfile.TemporaryDirectory() as d:
        win, req, models = _build(Path(d), listeners)
        win.show()
        loaded = []
        win.model_loaded.connect(loaded.append)
        win.load(req, load_fn=lambda *_: models)
        assert _spin_until(app, lambda: loaded and win.strip.state_name == "listening", REPLY_TIMEOUT_S)
        probe = LagProbe()
        probe.start()
        _spin_until(app, lambda: False, IDLE_S)
        results = {"idle": stats(probe.stop()), "replies": []}
        ended: list[int] = []
        deltas: list[int] = []
        win.presenter.reply_ended.connect(ended.append)
        win.presenter.reply_text_changed.connect(lambda turn_id, _text: deltas.append(turn_id))
        for i in range(n_replies):
            probe.start()
            t0 = time.monotonic()
            win.send_text(MESSAGES[i % len(MESSAGES)])
            assert _spin_until(app, lambda n=i + 1: len(ended) >= n, REPLY_TIMEOUT_S), "reply did not end"
            row = stats(probe.stop())
            row.update(reply_s=time.monotonic() - t0, text_deltas=deltas.count(ended[-1]))
            results["replies"].append(row)
            _spin_until(app, lambda: win.strip.state_name == "listening", REPLY_TIMEOUT_S)
        t0 = time.monotonic()
        win.close()
        results["close_s"] = time.monotonic() - t0
    all_lags = [r["max_ms"] for r in results["replies"]]
    results["max_stall_ms"] = max(all_lags) if all_lags else 0.0
    results["listeners"] = listeners
    return results


def print_table(res: dict) -> None:
    print(f"{'phase':<10}{'ticks':>7}{'max stall':>11}{'p99':>8}{'p50':>8}{'>50ms':>7}{'reply s':>9}{'deltas':>8}")
    rows = [("idle", res["idle"])] + [(f"reply {i + 1}", r) for i, r in enumerate(res["replies"])]
    for name, r in rows:
        print(f"{name:<10}{r['ticks']:>7}{r['max_ms']:>9.1f}ms{r['p99_ms']:>6.1f}ms{r['p50_ms']:>6.1f}ms"
              f"{r['over_50ms']:>7}{r.get('reply_s', 0):>9.2f}{r.get('text_deltas', 0):>8}")
    print(f"largest stall while streaming: {res['max_stall_ms']:.1f} ms (10 ms timer); "
          f"window close (engine stop): {res['close_s']:.2f} s; listeners: {res['listeners']}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--replies", type=int, default=3)
    p.add_argument("--listeners", action="store_true", help="run the tiny listeners beside the replies")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    logging.basicConfig(level=logging.WARNING)
    res = run(args.replies, args.listeners)
    print(json.dumps(res, indent=2)) if args.json else print_table(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
