"""Early commit + continuation: the user went on after the end-of-turn model committed their turn.

The early turn's reply was stopped at once (`ReplyControl.on_continued`, the barge-in path, so its `ReplyEnded`
is clipped to what was heard). At the continued speech's dispatch, `merge()` makes it the same user turn: the
early turn's audio and the new speech become one turn's samples, and the early turn (and its clipped reply)
leave the history the model sees; `UserTurnCaptured.continues_turn` tells front ends which turn it replaces.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from core.turns.vad import Turn
from models.rates import SPEECH_RATE_HZ

log = logging.getLogger(__name__)

EarlyTurn = tuple[int, object, np.ndarray]  # (turn id, its history turn, its samples)


def merge(early: EarlyTurn | None, turns: list, turn: Turn) -> tuple[int | None, Turn]:
    """(id of the turn this one continues or None, the turn to dispatch). `turns`: the history's turn list, from
    which the early turn and its clipped reply are removed. Call after the current reply was cancelled and
    finalized."""
    if not turn.continues or early is None:
        return None, turn
    tid, user_turn, samples = early
    idx = next((i for i, t in enumerate(turns) if t is user_turn), None)
    if idx is None:  # the history was cleared or replaced meanwhile: a turn of its own
        return None, turn
    del turns[idx:]  # the early turn and the clipped reply that answered half a sentence
    merged = np.concatenate([samples, turn.samples]).astype(np.float32, copy=False)
    log.info("turn %d went on after an early commit: merged (%.2f s)", tid, merged.size / SPEECH_RATE_HZ)
    return tid, dataclasses.replace(turn, samples=merged)
