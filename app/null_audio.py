"""A sounddevice-like backend with no hardware, for machines without a sound card: text-only mode.

The input delivers digital silence and the output discards what it is given, both paced in real time on
their own threads, so the engine runs unchanged (typed turns get replies; nothing is heard). The window
switches to it only when the real devices cannot be opened, and says so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

NULL_RATE_HZ = 48000
NULL_DEVICE_NAME = "no sound device (text-only)"


class NullPortAudioError(Exception):
    pass


class _NullStream:
    def __init__(self, kind: str, samplerate: float, blocksize: int, channels: int = 1,
                 callback: Callable | None = None, finished_callback: Callable | None = None, **_: Any) -> None:
        self.kind, self.samplerate = kind, int(samplerate)
        self.blocksize = int(blocksize) or 1024
        self.channels, self._cb, self._finished = channels, callback, finished_callback
        self.latency = 0.0
        self.active = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"null-{kind}", daemon=True)

    def start(self) -> None:
        self.active = True
        self._thread.start()

    def _run(self) -> None:
        period_s = self.blocksize / self.samplerate
        next_t = time.monotonic()
        block = np.zeros((self.blocksize, self.channels), np.float32)
        while not self._stop.is_set():
            block.fill(0.0)
            if self._cb is not None:
                self._cb(block, self.blocksize, None, 0)
            next_t += period_s
            self._stop.wait(max(0.0, next_t - time.monotonic()))
        self.active = False

    def abort(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(1.0)
        self.active = False

    stop = abort

    def close(self) -> None:
        self.abort()


class NullAudio:
    """`query_devices`, `InputStream`, `OutputStream` like sounddevice; one silent device."""

    PortAudioError = NullPortAudioError

    def query_devices(self, device: Any = None, kind: str | None = None) -> dict:
        return {
            "name": NULL_DEVICE_NAME,
            "index": 0,
            "max_input_channels": 1,
            "max_output_channels": 1,
            "default_samplerate": float(NULL_RATE_HZ),
        }

    def InputStream(self, **kw: Any) -> _NullStream:  # noqa: N802 (sounddevice's name)
        return _NullStream("input", **kw)

    def OutputStream(self, **kw: Any) -> _NullStream:  # noqa: N802 (sounddevice's name)
        return _NullStream("output", **kw)
