"""Live partial transcripts: while the engine's VAD reports speech, hand the user's frames to the listeners.

`on_frame` runs on the engine-capture thread (via `TalkVad`'s tap) and only appends; every `FLUSH_FRAMES`
frames the batch goes to `Listeners.on_user_audio_partial` (which only enqueues). `on_event` runs on the
engine-events thread: `SpeechStarted` opens the feed, `UserTurnCaptured` closes it (the final transcript
follows from `on_user_turn`), `SpeechDiscarded` closes it and drops the buffered speech.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from core.engine.events import UserTurnCaptured
from core.turns.events import SpeechDiscarded, SpeechStarted

log = logging.getLogger(__name__)

FLUSH_FRAMES = 8  # 8 x 32 ms: the listeners throttle re-transcription themselves


class PartialFeed:
    def __init__(self, listeners: Callable[[], Any]) -> None:
        self._listeners = listeners
        self._lock = threading.Lock()
        self._open = False
        self._frames: list[np.ndarray] = []

    def on_frame(self, frame: np.ndarray) -> None:
        with self._lock:
            if not self._open:
                return
            self._frames.append(np.array(frame, np.float32, copy=True))
            if len(self._frames) < FLUSH_FRAMES:
                return
            batch, self._frames = np.concatenate(self._frames), []
        lis = self._listeners()
        if lis is not None:
            lis.on_user_audio_partial(batch, None)

    def on_event(self, ev: object) -> None:
        if isinstance(ev, SpeechStarted):
            with self._lock:
                self._open, self._frames = True, []
        elif isinstance(ev, UserTurnCaptured | SpeechDiscarded):
            with self._lock:
                self._open, self._frames = False, []
            lis = self._listeners()
            if isinstance(ev, SpeechDiscarded) and lis is not None:
                lis.reset_user_audio()
