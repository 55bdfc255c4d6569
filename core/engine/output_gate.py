"""A reply's way out: its events (to the engine's sink) and its audio (into the jitter buffer), either passed
through or held back until released: a speculative reply (core.engine.speculation) is computed behind a held gate
and shown and played only if its turn really ends."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

from core.audio.playout import PlayoutBuffer
from core.engine.events import EngineEvent

log = logging.getLogger(__name__)


class OutputGate:
    """A reply's way out (events, jitter buffer). Held: everything is kept back; `release()` lets it out in
    order and passes the rest through. Not held: a plain pass-through. Thread-safe."""

    def __init__(self, playout: PlayoutBuffer, emit: Callable[[EngineEvent], None], held: bool) -> None:
        self._playout, self._emit = playout, emit
        self._lock = threading.Lock()
        self._held = held
        self._events: list[object] = []
        self._audio: list[tuple[int, np.ndarray]] = []  # (reply id, samples at the device rate)
        self._begun: int | None = None
        self._ended: int | None = None

    @property
    def held(self) -> bool:
        return self._held

    def emit(self, event: EngineEvent) -> None:
        with self._lock:
            if self._held:
                self._events.append(event)
                return
        self._emit(event)

    def begin(self, reply_id: int) -> None:
        with self._lock:
            if self._held:
                self._begun = reply_id
                return
        self._playout.begin(reply_id)

    def write(self, reply_id: int, samples: np.ndarray) -> bool:
        """True when the samples reached the jitter buffer now (False: held, or refused by it)."""
        with self._lock:
            if self._held:
                self._audio.append((reply_id, samples))
                return False
        return self._playout.write(reply_id, samples)

    def end(self, reply_id: int) -> None:
        with self._lock:
            if self._held:
                self._ended = reply_id
                return
        self._playout.end(reply_id)

    def stop(self) -> None:
        """Silence the reply: the jitter buffer stops at once; held output is dropped, the buffer untouched."""
        with self._lock:
            if self._held:
                self._events.clear()
                self._audio.clear()
                return
        self._playout.stop()

    def release(self) -> bool:
        """Let the held output out (in order) and stop holding. True if audio reached the jitter buffer."""
        with self._lock:  # the reply's threads wait here, so nothing they make can overtake the held part
            if not self._held:
                return False
            wrote = False
            for event in self._events:
                self._emit(event)
            if self._begun is not None:
                self._playout.begin(self._begun)
            for reply_id, samples in self._audio:
                wrote = self._playout.write(reply_id, samples) or wrote
            if self._ended is not None:
                self._playout.end(self._ended)
            self._events.clear()
            self._audio.clear()
            self._held = False
            return wrote
