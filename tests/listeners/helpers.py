"""Shared helpers for the listener tests (plain functions and classes; fixtures live in each test module)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.listeners import ListenersConfig
from models.rates import SPEECH_RATE_HZ as SAMPLE_RATE_HZ

WAIT_S = 30.0


class Collector:
    """A thread-safe emit sink recording (monotonic time, event)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.items: list[tuple[float, object]] = []

    def __call__(self, event: object) -> None:
        with self._cond:
            self.items.append((time.monotonic(), event))
            self._cond.notify_all()

    def events(self, cls: type | None = None) -> list:
        with self._cond:
            return [e for _, e in self.items if cls is None or isinstance(e, cls)]

    def wait_for(self, pred: Callable[[list], bool], timeout_s: float = WAIT_S) -> bool:
        deadline_s = time.monotonic() + timeout_s
        with self._cond:
            while not pred([e for _, e in self.items]):
                left_s = deadline_s - time.monotonic()
                if left_s <= 0:
                    return False
                self._cond.wait(left_s)
        return True


def tiny_config(paths: dict[str, Path], **overrides) -> ListenersConfig:
    fields = dict(
        asr_checkpoint=str(paths["asr"]),
        ser_checkpoint=str(paths["ser"]),
        text_emotion_checkpoint=str(paths["text_emotion"]),
        asr_max_new_tokens=8,
        partial_interval_ms=0,
        partial_min_audio_ms=100,
        text_emotion_interval_ms=0,
        local_files_only=True,
        hold_until_first_audio=False,  # tests of the hold turn it on themselves
    )
    fields.update(overrides)
    return ListenersConfig(**fields)


def tone(seconds: float, freq_hz: float = 220.0, seed: int = 0) -> np.ndarray:
    """[N] float32: a tone plus a little noise."""
    t = np.arange(int(seconds * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    noise = np.random.default_rng(seed).standard_normal(t.size) * 0.01
    return (0.2 * np.sin(2 * np.pi * freq_hz * t) + noise).astype(np.float32)
