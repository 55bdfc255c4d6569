"""The window's end-of-turn pieces: the Smart Turn model (loaded once, its "on/off — reason" shown with the
listeners) and the text signal from a partial transcript: the transcript listener's partials when it runs,
else pocketsphinx's (core/turns/partial_asr.py) on the turn's frames (`TranscriptConfig.partial`)."""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from core.engine.events import UserTurnCaptured
from core.listeners.events import ListenerStatus, UserTranscript
from core.turns.events import SpeechDiscarded, SpeechStarted
from core.turns.text_eou import LexicalEndOfUtterance
from core.turns.transcript_config import TranscriptConfig

log = logging.getLogger(__name__)

NAME = "end of turn"
PREROLL_FRAMES = 24  # 768 ms before SpeechStarted reaches the events thread: the VAD's pre-roll and the latency


class SessionEndOfTurn:
    def __init__(self, emit: Callable[[object], None], asr_running: Callable[[], bool] = lambda: False) -> None:
        self._emit = emit
        self._asr_running = asr_running  # the transcript listener is on (its partials win)
        self._lock = threading.Lock()
        self._loaded: dict[str | None, Any] = {}  # model path -> scorer or None
        self._partial = ""
        self._text = LexicalEndOfUtterance()
        self._transcript = TranscriptConfig()
        self._sphinx: Any = None  # ThreadedPartialTranscript once loaded
        self._sphinx_status: str | None = None
        self._sphinx_turn = False  # this turn's frames go to pocketsphinx
        self._preroll: collections.deque[np.ndarray] = collections.deque(maxlen=PREROLL_FRAMES)

    def scorer(self, config) -> Any:
        """The Smart Turn scorer for a CompanionConfig (None: off; the status says why), loaded through the
        assembly (`app.assembly.load_end_of_turn`, as `converse`, `main.py turns` and the suite load it) once per
        model file."""
        eot = config.engine.end_of_turn
        if not eot.semantic:
            self._emit(ListenerStatus(NAME, False, "off in Settings; the end-of-turn silence ends a turn"))
            return None
        if eot.smart_turn_model not in self._loaded:
            from app.assembly import load_end_of_turn

            self._loaded[eot.smart_turn_model] = load_end_of_turn(config)
        loaded = self._loaded[eot.smart_turn_model]
        self._emit(ListenerStatus(NAME, loaded.scorer is not None, loaded.status.split(" — ", 1)[-1]))
        return loaded.scorer

    def use_transcript(self, config: TranscriptConfig) -> None:
        """Engine-control thread: the partial transcript source; pocketsphinx is loaded once, when first needed."""
        self._transcript = config
        if config.partial in ("auto", "sphinx") and self._sphinx_status is None:
            from core.turns.partial_asr import ThreadedPartialTranscript, load_sphinx

            rec, self._sphinx_status = load_sphinx()
            self._sphinx = ThreadedPartialTranscript(rec) if rec is not None else None
            log.info("partial transcript fallback: %s", self._sphinx_status)

    def tap(self, emit: Callable[[object], None]) -> Callable[[object], None]:
        """Wraps the listeners' emit: partial transcripts of the open turn are kept for `text_prob`."""
        def tapped(ev: object) -> None:
            if isinstance(ev, UserTranscript) and not ev.is_final:
                with self._lock:
                    self._partial = ev.text
            emit(ev)
        return tapped

    def on_frame(self, frame: np.ndarray) -> None:
        """Capture thread (TalkVad's tap): the frame goes to pocketsphinx during a turn, else to the pre-roll."""
        if self._sphinx is None:
            return
        with self._lock:
            if self._sphinx_turn:
                self._sphinx.feed(frame)  # copies, never waits
            else:
                self._preroll.append(np.array(frame, np.float32, copy=True))

    def on_event(self, ev: object) -> None:
        if isinstance(ev, SpeechStarted):
            mode = self._transcript.partial
            use = self._sphinx is not None and (mode == "sphinx" or mode == "auto" and not self._asr_running())
            with self._lock:
                self._partial = ""
                self._sphinx_turn = use
                if use:
                    self._sphinx.start()
                    for f in self._preroll:
                        self._sphinx.feed(f)
                self._preroll.clear()
        elif isinstance(ev, UserTurnCaptured | SpeechDiscarded):
            with self._lock:
                self._partial = ""
                if self._sphinx_turn:
                    self._sphinx.stop()
                self._sphinx_turn = False

    def text_prob(self, _at_s: float) -> float | None:
        """Capture thread: P(utterance over) from the latest partial transcript (None without one)."""
        mode = self._transcript.partial
        if mode == "off":
            return None
        with self._lock:
            text = self._partial if mode in ("auto", "listener") else ""
            if not text and self._sphinx_turn:
                text = self._sphinx.text()  # the latest published hypothesis: never waits for the decoder
        return self._text.prob(text) if text else None

    def close(self) -> None:
        with self._lock:
            sphinx, self._sphinx, self._sphinx_status, self._sphinx_turn = self._sphinx, None, None, False
        if sphinx is not None:
            sphinx.close()
