"""Early commit + continuation: the user went on after the end-of-turn model committed their turn.

The early turn's reply was stopped at once (`Engine._continued`, the barge-in path, so its `ReplyEnded` is
clipped to what was heard). At the continued speech's dispatch, `merge()` makes it the same user turn: the
early turn's audio and the new speech become one turn's samples, and the early turn (and its clipped reply)
leave the history the model sees; the transcript log keeps them, marked `superseded`.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def merge(engine: Any, turn: Any) -> tuple[int | None, Any]:
    """(id of the turn this one continues or None, the turn to dispatch). Call under the engine's lock, after
    the current reply was cancelled and finalized."""
    early, engine._early = engine._early, None
    if not turn.continues or early is None:
        return None, turn
    tid, user_turn, samples = early
    turns = engine.conversation.turns
    idx = next((i for i, t in enumerate(turns) if t is user_turn), None)
    if idx is None:  # the history was cleared or replaced meanwhile: a turn of its own
        return None, turn
    del turns[idx:]  # the early turn and the clipped reply that answered half a sentence
    for entry in engine.transcript:
        if entry.get("turn_id") == tid:
            entry["superseded"] = True
    merged = np.concatenate([samples, turn.samples]).astype(np.float32, copy=False)
    log.info("turn %d went on after an early commit: merged (%.2f s)", tid, merged.size / 16000)
    return tid, dataclasses.replace(turn, samples=merged)
