"""The engine's VAD seam wrapped for push-to-talk: the same 16 kHz frames, recorded while a key is held.

In hands-free mode the wrapper passes silero-vad's probability through. In push-to-talk mode it reports 0
(no automatic turns) and, while `recording`, keeps every frame the capture thread hands it; `finish()` returns
the recorded clip for `Engine.submit_turn`. Called on the engine-capture thread; the switches are thread-safe.
An optional tap sees every hands-free frame (the session feeds live partial transcripts from it).

`hold(True)` makes hands-free listening deaf while another sound of the app plays (a replayed turn): the
microphone would hear it and take it for the user. `hold(False)` keeps it deaf for `HOLD_TAIL_S` more (the
output's latency and the room's echo), then listening resumes with a fresh VAD state.

A push-to-talk turn obeys the same cap as a hands-free one (`max_turn_s`, VadConfig.max_turn_ms): at the cap the
recording stops and `on_limit()` is called (capture thread) so the session submits what was said.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


VAD_RATE_HZ = 16000
DEFAULT_MAX_TURN_S = 30.0
HOLD_TAIL_S = 0.3  # deaf this long after a held sound stops (output latency + room echo)


class TalkVad:
    def __init__(self, make_vad: Callable[[], Any] | None = None, max_turn_s: float = DEFAULT_MAX_TURN_S) -> None:
        self._make_vad = make_vad or _silero
        self.max_turn_s = max_turn_s
        self.on_limit: Callable[[], None] | None = None  # called once when a recording reaches max_turn_s
        self._n_samples = 0
        self.limit_hit = False  # the current press reached the cap (its clip was handed over already)
        self._vad: Any = None
        self._lock = threading.Lock()
        self._push_to_talk = False
        self._recording = False
        self._frames: list[np.ndarray] = []
        self._tap: Callable[[np.ndarray], None] | None = None
        self._held = False
        self._held_until = 0.0  # time.monotonic() until which a released hold still holds
        self._was_held = False  # the last frame was held: the next live one starts a fresh VAD state
        self._clock: Callable[[], float] = time.monotonic

    def set_tap(self, tap: Callable[[np.ndarray], None] | None) -> None:
        """Hands-free: every frame also goes to `tap(frame)` (capture thread; it must only enqueue)."""
        self._tap = tap

    def set_push_to_talk(self, on: bool) -> None:
        with self._lock:
            self._push_to_talk = bool(on)
            self._recording = False
            self._frames = []

    def hold(self, on: bool) -> None:
        """Deaf (hands-free) while the app plays another sound; see the module doc."""
        with self._lock:
            self._held = bool(on)
            if not on:
                self._held_until = self._clock() + HOLD_TAIL_S

    @property
    def held(self) -> bool:
        return self._held or self._clock() < self._held_until

    @property
    def push_to_talk(self) -> bool:
        return self._push_to_talk

    def begin(self) -> None:
        """Start recording (the talk key went down)."""
        with self._lock:
            self._frames = []
            self._n_samples = 0
            self._recording = True
            self.limit_hit = False

    @property
    def recording(self) -> bool:
        return self._recording

    def finish(self) -> np.ndarray:
        """Stop recording; the clip so far ([N] float32, 16 kHz)."""
        with self._lock:
            self._recording = False
            frames, self._frames = self._frames, []
        return np.concatenate(frames) if frames else np.zeros(0, np.float32)

    # -- the engine's VAD interface --------------------------------------------------------------------------
    def prob(self, frame: np.ndarray) -> float:
        capped = False
        with self._lock:
            if self._push_to_talk:
                if self._recording:
                    self._frames.append(np.array(frame, np.float32, copy=True))
                    self._n_samples += len(frame)
                    if self._n_samples >= self.max_turn_s * VAD_RATE_HZ:
                        self._recording, self.limit_hit, capped = False, True, True
            if self._push_to_talk and not capped:
                return 0.0
            if not capped and (self._held or self._clock() < self._held_until):
                self._was_held = True
                return 0.0
            fresh, self._was_held = self._was_held, False
        if capped:
            log.info("push-to-talk turn reached %.0f s; cut there", self.max_turn_s)
            if self.on_limit is not None:
                self.on_limit()
            return 0.0
        if self._vad is None:
            self._vad = self._make_vad()
        elif fresh:
            self._vad.reset()  # the held sound is not this stream's history
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
