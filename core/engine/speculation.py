"""Speculative turn start: a reply computed on a turn that has not ended yet, played only if it does.

When the VAD has heard a short pause (`VadConfig.speculate_after_ms`), the engine starts a `ReplyJob` on the turn
as it would be dispatched, behind an `OutputGate` that holds its events and audio. If the silence reaches the end
of turn and the turn's samples are the speculated ones, the engine adopts the job: the gate releases what it
held (events in order, audio into the jitter buffer) and passes everything through from then on. If the user
goes on speaking, the job is cancelled and dropped: nothing it made was shown, played or added to the history.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.audio.playout import PlayoutBuffer

log = logging.getLogger(__name__)


class OutputGate:
    """A reply's way out (events, jitter buffer). Held: everything is kept back; `release()` lets it out in
    order and passes the rest through. Not held: a plain pass-through. Thread-safe."""

    def __init__(self, playout: PlayoutBuffer, emit: Callable[[object], None], held: bool) -> None:
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

    def emit(self, event: object) -> None:
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


@dataclass
class Speculation:
    """A speculative reply and the user turn it answers (not yet in the conversation)."""

    samples: np.ndarray = field(repr=False)  # [N] float32 16 kHz: the turn audio the reply was computed on
    user_turn: Any  # core.lm.conversation.Turn to append to the history when adopted
    job: Any  # core.engine.reply_job.ReplyJob started with a held OutputGate
    started_t: float  # time.monotonic() at the start

    def matches(self, samples: np.ndarray) -> bool:
        """Is `samples` (the dispatched turn) exactly the audio this reply was computed on?"""
        return samples.shape == self.samples.shape and bool(np.array_equal(samples, self.samples))


class SpeculationSlot:
    """The engine's pending speculative reply, and dropped ones still winding down (one job at a time may use
    the runner, so a new job waits for them: `join_dropped()`). The engine serialises calls under its lock."""

    def __init__(self, join_timeout_s: float) -> None:
        self._join_timeout_s = join_timeout_s
        self._pending: Speculation | None = None
        self._dropped: list[Any] = []

    def set(self, spec: Speculation) -> None:
        self.drop()
        self._pending = spec

    def take(self, samples: np.ndarray) -> Speculation | None:
        """The pending speculation if it was computed on exactly `samples` (it is then no longer pending);
        otherwise it is dropped and None returned."""
        spec = self._pending
        if spec is not None and spec.matches(samples):
            self._pending = None
            return spec
        self.drop()
        return None

    def drop(self) -> None:
        """Cancel the pending speculative reply (nothing of it was shown or played)."""
        spec, self._pending = self._pending, None
        if spec is not None:
            log.debug("speculative reply %d dropped", spec.job.turn_id)
            self._retire(spec.job)

    def join_dropped(self) -> None:
        for job in self._dropped:
            if not job.join(self._join_timeout_s):
                log.warning("dropped speculative reply %d still running after %.1f s", job.turn_id,
                            self._join_timeout_s)
        self._dropped.clear()

    def _retire(self, job: Any) -> None:
        job.cancel()
        self._dropped.append(job)
