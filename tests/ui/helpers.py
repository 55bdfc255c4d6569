"""Helpers for the UI tests: the test settings, loading models into a window, listener settings, speech at a rate.
The fixtures (tiny models, tiny listeners, the window factory) are in tests/ui/conftest.py."""

from __future__ import annotations

import dataclasses

import numpy as np

from app.settings import AppSettings

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


def load_into(qtbot, win, models) -> None:
    """Load (runner, vocoder, playback plan, request) through the window's worker-thread path and wait for it."""
    runner, vocoder, playback, req = models
    with qtbot.waitSignal(win.model_loaded, timeout=WAIT_MS):
        win.load(req, load_fn=lambda *_: (runner, vocoder, playback))
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
