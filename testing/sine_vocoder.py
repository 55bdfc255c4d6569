"""A voice decoder stand-in that computes nothing: every speech unit becomes 80 ms of a 440 Hz tone at the real
decoder's rate. Benchmarks use it to measure the engine without vocoder compute (bench/bench_engine.py
`--sine-vocoder`); tests subclass it. It implements the `VoiceSynthesizer` / `VoiceStream` seams (core.seams).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

import numpy as np

from models.glm_constants import SAMPLE_RATE_HZ, UNIT_RATE_HZ

log = logging.getLogger(__name__)

SAMPLES_PER_UNIT = int(SAMPLE_RATE_HZ / UNIT_RATE_HZ)  # 1764: 12.5 units/s at 22050 Hz
TONE_HZ = 440.0
TONE_AMPLITUDE = 0.3


class SineStream:
    """One utterance: `push(units)` -> one chunk of tone per push; `cancel()` ends a push's delay at once."""

    def __init__(self, decoder: SineDecoder) -> None:
        self._dec = decoder
        self._phase = 0
        self._cancel = threading.Event()

    def push(self, units: Iterable[int]) -> list[np.ndarray]:
        units = list(units)
        self._dec.pushes += 1
        self._dec.before_push(self._dec.pushes)
        self._dec.in_push = True
        try:
            if self._cancel.wait(self._dec.push_delay_s) or self._cancel.is_set():
                return []
        finally:
            self._dec.in_push = False
        n = len(units) * SAMPLES_PER_UNIT
        t = (self._phase + np.arange(n)) / SAMPLE_RATE_HZ
        self._phase += n
        return [(TONE_AMPLITUDE * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)]

    def flush(self) -> list[np.ndarray]:
        return []

    def cancel(self) -> None:
        self._cancel.set()


class SineDecoder:
    """`open_stream(schedule, generator)` -> SineStream (both ignored: a tone has no chunks and no noise).
    `push_delay_s`: simulated compute per push (interrupted by cancel)."""

    sample_rate_hz = SAMPLE_RATE_HZ

    def __init__(self, push_delay_s: float = 0.0) -> None:
        self.push_delay_s = push_delay_s
        self.pushes = 0  # pushes so far, over all streams
        self.in_push = False  # a push is computing now

    def before_push(self, n: int) -> None:
        """Called at the start of the n-th push (tests raise here to simulate a failing vocoder)."""

    def open_stream(self, schedule: object = None, generator: object = None) -> SineStream:
        return SineStream(self)
