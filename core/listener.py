"""The capture thread's work: device-rate blocks -> 16 kHz 512-sample frames -> silero-vad -> TurnDetector,
mic levels and signal warnings, and barge-in detection. It decides nothing about replies: it calls back."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.audio_io import FrameChunker, MicCapture, Resampler
from core.engine_config import VAD_FRAME, VAD_FRAME_MS, VAD_RATE_HZ, EngineConfig
from core.engine_events import SpeechDiscarded, SpeechStarted
from core.level_watch import LevelWatch
from core.vad import Discarded, SpeechStart, Turn, TurnDetector, frames_to_s

log = logging.getLogger(__name__)

QUEUE_POLL_S = 0.1  # how often an idle capture thread re-checks its stop flag


@dataclass(frozen=True)
class ListenerHooks:
    emit: Callable[[object], None]
    dispatch: Callable[[Turn, float | None], int]  # (turn, monotonic arrival of its last voiced frame)
    barge_in: Callable[[float], None]  # (speech_ms)
    mic_live: Callable[[], bool]  # False: half-duplex is ignoring the microphone


class Listener:
    def __init__(self, capture: MicCapture, vad: Any, config: EngineConfig, hooks: ListenerHooks) -> None:
        self._cap, self._vad, self._cfg, self._hooks = capture, vad, config, hooks
        self._resampler = Resampler(capture.rate_hz, VAD_RATE_HZ)
        self._chunker = FrameChunker(VAD_FRAME)
        self._detector = TurnDetector(config.vad)
        self._levels = LevelWatch(config)
        self._last_voiced_t: float | None = None
        self.vad_compute_s = 0.0
        self.frames = 0

    def run(self, running: threading.Event) -> None:
        """Thread body: until `running` is cleared."""
        while running.is_set():
            try:
                arrival_t, block = self._cap.queue.get(timeout=QUEUE_POLL_S)
            except queue.Empty:
                continue
            for frame in self._chunker.push(self._resampler.process(block)):
                self._on_frame(frame, arrival_t)

    def _on_frame(self, frame: np.ndarray, arrival_t: float) -> None:
        t0 = time.perf_counter()
        prob = self._vad.prob(frame)
        self.vad_compute_s += time.perf_counter() - t0
        self.frames += 1
        det, hooks = self._detector, self._hooks
        ignored = not hooks.mic_live()
        for ev in self._levels.update(frame, prob, ignored, det.in_speech):
            hooks.emit(ev)
        if ignored:
            det.skip(prob)  # forget speech and pre-roll, keep the frame clock running
            return
        if prob >= self._cfg.vad.stop_threshold:
            self._last_voiced_t = arrival_t
        for ev in det.feed(frame, prob):
            if isinstance(ev, SpeechStart):
                hooks.emit(SpeechStarted(frames_to_s(ev.frame_index)))
            elif isinstance(ev, Discarded):
                hooks.emit(SpeechDiscarded(frames_to_s(det.frame_index), ev.voiced_frames * VAD_FRAME_MS))
            elif isinstance(ev, Turn):
                hooks.dispatch(ev, self._last_voiced_t)
        if self._cfg.barge_in and det.speech_ms >= self._cfg.barge_in_ms:
            hooks.barge_in(det.speech_ms)
