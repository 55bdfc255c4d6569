"""Speculative turn start: a reply computed on a turn that has not ended yet, played only if it does.

When the VAD has heard a short pause (`VadConfig.speculate_after_ms`), the engine starts a `ReplyJob` on the turn
as it would be dispatched, behind an `OutputGate` that holds its events and audio. If the silence reaches the end
of turn and the turn's samples are the speculated ones, the engine adopts the job: the gate releases what it
held (events in order, audio into the jitter buffer) and passes everything through from then on. If the user
goes on speaking, the job is cancelled and dropped: nothing it made was shown, played or added to the history.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from core.engine.reply_job import ReplyJob

log = logging.getLogger(__name__)


@dataclass
class Speculation:
    """A speculative reply and the user turn it answers (not yet in the conversation)."""

    samples: np.ndarray = field(repr=False)  # [N] float32 16 kHz: the turn audio the reply was computed on
    user_turn: object  # the history's user turn (core.lm.conversation.Turn) to append when adopted
    job: ReplyJob  # started with a held OutputGate
    started_t: float  # time.monotonic() at the start

    def matches(self, samples: np.ndarray) -> bool:
        """Is `samples` (the dispatched turn) exactly the audio this reply was computed on?"""
        return samples.shape == self.samples.shape and bool(np.array_equal(samples, self.samples))


class SpeculationSlot:
    """The engine's pending speculative reply. A dropped one is cancelled and forgotten: it winds down on the
    engine's workers, and the next reply waits for it there (core.engine.worker). Control thread only."""

    def __init__(self) -> None:
        self._pending: Speculation | None = None

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
            spec.job.cancel()
