"""The engine's VAD seam wrapped for push-to-talk: the same 16 kHz frames, recorded while a key is held.

In hands-free mode the wrapper passes silero-vad's probability through. In push-to-talk mode it reports 0
(no automatic turns) and, while `recording`, keeps every frame the capture thread hands it; `finish()` returns
the recorded clip for `Engine.submit_turn`. Called on the engine-capture thread; the switches are thread-safe.
An optional tap sees every hands-free frame (the session feeds live partial transcripts from it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


class TalkVad:
    def __init__(self, make_vad: Callable[[], Any] | None = None) -> None:
        self._make_vad = make_vad or _silero
        self._vad: Any = None
        self._lock = threading.Lock()
        self._push_to_talk = False
        self._recording = False
        self._frames: list[np.ndarray] = []
        self._tap: Callable[[np.ndarray], None] | None = None

    def set_tap(self, tap: Callable[[np.ndarray], None] | None) -> None:
        """Hands-free: every frame also goes to `tap(frame)` (capture thread; it must only enqueue)."""
        self._tap = tap

    def set_push_to_talk(self, on: bool) -> None:
        with self._lock:
            self._push_to_talk = bool(on)
            self._recording = False
            self._frames = []

    @property
    def push_to_talk(self) -> bool:
        return self._push_to_talk

    def begin(self) -> None:
        """Start recording (the talk key went down)."""
        with self._lock:
            self._frames = []
            self._recording = True

    def finish(self) -> np.ndarray:
        """Stop recording; the clip so far ([N] float32, 16 kHz)."""
        with self._lock:
            self._recording = False
            frames, self._frames = self._frames, []
        return np.concatenate(frames) if frames else np.zeros(0, np.float32)

    # -- the engine's VAD interface --------------------------------------------------------------------------
    def prob(self, frame: np.ndarray) -> float:
        with self._lock:
            if self._push_to_talk:
                if self._recording:
                    self._frames.append(np.array(frame, np.float32, copy=True))
                return 0.0
        if self._vad is None:
            self._vad = self._make_vad()
        tap = self._tap
        if tap is not None:
            tap(frame)
        return float(self._vad.prob(frame))

    def reset(self) -> None:
        if self._vad is not None:
            self._vad.reset()


def _silero() -> Any:
    from core.turns.vad import SileroVad

    return SileroVad()
