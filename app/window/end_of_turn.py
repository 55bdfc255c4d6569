"""The window's end-of-turn pieces: the Smart Turn model (loaded once, its "on/off — reason" shown with the
listeners) and the text signal from the transcript listener's partial transcript."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from core.engine.events import UserTurnCaptured
from core.listeners.events import ListenerStatus, UserTranscript
from core.turns.events import SpeechStarted
from core.turns.text_eou import LexicalEndOfUtterance

log = logging.getLogger(__name__)

NAME = "end of turn"


class SessionEndOfTurn:
    def __init__(self, emit: Callable[[object], None]) -> None:
        self._emit = emit
        self._lock = threading.Lock()
        self._loaded: dict[str | None, Any] = {}  # model path -> scorer or None
        self._partial = ""
        self._text = LexicalEndOfUtterance()

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

    def tap(self, emit: Callable[[object], None]) -> Callable[[object], None]:
        """Wraps the listeners' emit: partial transcripts of the open turn are kept for `text_prob`."""
        def tapped(ev: object) -> None:
            if isinstance(ev, UserTranscript) and not ev.is_final:
                with self._lock:
                    self._partial = ev.text
            emit(ev)
        return tapped

    def on_event(self, ev: object) -> None:
        if isinstance(ev, SpeechStarted | UserTurnCaptured):
            with self._lock:
                self._partial = ""

    def text_prob(self, _at_s: float) -> float | None:
        """Capture thread: P(utterance over) from the latest partial transcript (None without one)."""
        with self._lock:
            text = self._partial
        return self._text.prob(text) if text else None
