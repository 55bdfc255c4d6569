"""Fixtures for the UI tests: the tiny model + tiny decoder loaded once, tiny listeners, and a window factory.

Import the fixtures into a test module (`from tests.ui_helpers import ...  # noqa: F401`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from app.model_loader import LoadRequest
from app.settings import AppSettings, SettingsStore
from tests.engine_fakes import FakeAudio

WAIT_MS = 90_000
FAST_AUDIO = 3.0  # fake devices run this many times faster than real time
TEST_SETTINGS = AppSettings(
    temperature=1.0,
    max_text_tokens=24,
    max_units=48,
    end_silence_ms=500,
    asr_checkpoint=None,
    ser_checkpoint=None,
    text_emotion_checkpoint=None,
)


@pytest.fixture(scope="session")
def tiny_decoder_dir(tmp_path_factory):
    from models.tiny_decoder import make_tiny_decoder

    return make_tiny_decoder(tmp_path_factory.mktemp("ui_decoder") / "decoder", seed=0)


@pytest.fixture(scope="session")
def tiny_models(tiny_checkpoint, tiny_decoder_dir):
    """(runner, decoder adapter, LoadRequest) for the tiny checkpoint + tiny decoder, loaded once."""
    from app.model_loader import load_models

    req = LoadRequest(str(tiny_checkpoint), str(tiny_decoder_dir), "tiny test model")
    runner, decoder = load_models(req, TEST_SETTINGS, lambda *_: None)
    return runner, decoder, req


@pytest.fixture(scope="session")
def tiny_listener_dirs(tmp_path_factory):
    from models.listeners.tiny import write_tiny_listeners

    return write_tiny_listeners(tmp_path_factory.mktemp("ui_listeners"))


@pytest.fixture
def make_window(qtbot, tmp_path):
    """make_window(settings=..., audio=...) -> MainWindow (shut down at teardown)."""
    from app.replay import ReplayPlayer
    from app.session import Session
    from ui.app_main import load_style
    from ui.main_window import MainWindow

    made = []

    def make(settings: AppSettings = TEST_SETTINGS, audio=None, config_dir=None):
        store = SettingsStore(config_dir or tmp_path / "config")
        if not store.path.exists():
            store.save(settings)
        settings = store.load()
        audio = audio or FakeAudio(speed=FAST_AUDIO)
        session = Session(settings, audio=audio)
        win = MainWindow(session, store, tmp_path / "data", ReplayPlayer(audio))
        win.setStyleSheet(load_style())
        qtbot.addWidget(win)
        win.show()
        qtbot.waitExposed(win)
        made.append(win)
        return win

    yield make
    for win in made:
        win.shutdown()


def load_into(qtbot, win, models) -> None:
    """Load (runner, decoder, request) through the window's worker-thread path and wait for it."""
    runner, decoder, req = models
    with qtbot.waitSignal(win.model_loaded, timeout=WAIT_MS):
        win.load(req, load_fn=lambda *_: (runner, decoder))
    qtbot.waitUntil(lambda: win.session.engine is not None and win.session.engine.state.value == "listening",
                    timeout=WAIT_MS)


def with_listeners(settings: AppSettings, dirs: dict) -> AppSettings:
    return dataclasses.replace(
        settings,
        asr_checkpoint=str(dirs["asr"]),
        ser_checkpoint=str(dirs["ser"]),
        text_emotion_checkpoint=str(dirs["text_emotion"]),
    )


def speech_at(speech_factory, text: str, rate_hz: int) -> np.ndarray:
    """espeak-ng speech resampled to the fake microphone's rate, with 1 s of silence after it."""
    import soxr

    x, rate = speech_factory(text)
    y = soxr.resample(x, rate, rate_hz).astype(np.float32)
    return np.concatenate([np.zeros(rate_hz // 4, np.float32), y, np.zeros(rate_hz, np.float32)])
