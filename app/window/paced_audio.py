"""Sounddevice-like streams without hardware: each calls its callback every block period on its own thread, paced
in real time (or `speed` times faster), like PortAudio does. The base of `app.window.null_audio` (silence,
text-only mode) and `testing.fake_audio` (a scripted microphone and a recording speaker for tests, benchmarks and
screenshots).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 1.0  # abort() waits this long for the stream thread


class PacedStream:
    """One mono-or-more float32 stream with sounddevice's constructor keywords. An input stream passes
    `input_block(n)` to the callback; an output stream hands the callback a zeroed block and passes what it wrote
    to `played(t, block)`. Subclasses override those two."""

    NAME = "paced"  # thread name prefix
    DEFAULT_BLOCKSIZE = 1024  # when the caller passes blocksize=0 (PortAudio's "any")

    def __init__(
        self,
        kind: str,
        samplerate: float,
        blocksize: int,
        channels: int = 1,
        callback: Callable[..., None] | None = None,
        finished_callback: Callable[[], None] | None = None,
        speed: float = 1.0,
        **_: object,
    ) -> None:
        self.kind, self.samplerate = kind, int(samplerate)
        self.blocksize = int(blocksize) or self.DEFAULT_BLOCKSIZE
        self.channels, self._cb, self._finished = channels, callback, finished_callback
        self.speed = speed
        self.latency = 0.0
        self.active = False
        self.stalled = False  # tests: a stuck sound server (the stream stays active but calls back no more)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{self.NAME}-{kind}", daemon=True)

    # -- what a block carries (override) ---------------------------------------------------------------------
    def input_block(self, n: int) -> np.ndarray:
        """[n] float32 the microphone delivers now: silence."""
        return np.zeros(n, np.float32)

    def played(self, t: float, block: np.ndarray) -> None:
        """The output callback filled `block` ([n] float32, first channel) at monotonic time `t`: discarded."""

    # -- the stream ------------------------------------------------------------------------------------------
    def start(self) -> None:
        self.active = True
        self._thread.start()

    def _run(self) -> None:
        period_s = self.blocksize / self.samplerate / self.speed
        next_t = time.monotonic()
        while not self._stop.is_set():
            if self.stalled:
                self._stop.wait(period_s)
                continue
            if self.kind == "input":
                data = self.input_block(self.blocksize).reshape(-1, 1)
                if self._cb is not None:
                    self._cb(data, self.blocksize, None, 0)
            else:
                out = np.zeros((self.blocksize, self.channels), np.float32)
                if self._cb is not None:
                    self._cb(out, self.blocksize, None, 0)
                self.played(time.monotonic(), out[:, 0])
            next_t += period_s
            self._stop.wait(max(0.0, next_t - time.monotonic()))
        self.active = False

    def kill(self) -> None:
        """Simulate the device vanishing: callbacks stop, then `finished_callback` fires."""
        self.abort()
        if self._finished is not None:
            self._finished()

    def abort(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(JOIN_TIMEOUT_S)
        self.active = False

    stop = abort

    def close(self) -> None:
        self.abort()
