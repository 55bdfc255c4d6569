"""Feeds realtime-engine events to the listeners (user transcript, user and assistant emotion).

Call `on_event` from the engine's sink. Every listener call only enqueues, so this never delays the reply. The
listeners hold their work until the reply's first audio chunk exists (`on_reply_first_audio`), so transcription and
emotion recognition never compete with the model and vocoder for the first audio.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from core.engine.events import ReplyAudio, ReplyEnded, ReplyText, UserTurnCaptured
from core.listeners.manager import Listeners


class ListenerBridge:
    def __init__(self, listeners: Callable[[], Listeners | None]):
        self._listeners = listeners  # returns the current Listeners (or None while there are none)
        self._lock = threading.Lock()
        self._reply_text: dict[int, str] = {}
        self._first_audio_seen: set[int] = set()

    def on_event(self, ev: object) -> None:
        lis = self._listeners()
        if lis is None:
            return
        if isinstance(ev, UserTurnCaptured):
            lis.on_user_turn(ev.turn_id, ev.samples)
        elif isinstance(ev, ReplyAudio):
            with self._lock:
                first = ev.turn_id not in self._first_audio_seen
                self._first_audio_seen.add(ev.turn_id)
            if first:
                lis.on_reply_first_audio(ev.turn_id)
        elif isinstance(ev, ReplyText):
            with self._lock:
                text = self._reply_text[ev.turn_id] = self._reply_text.get(ev.turn_id, "") + ev.delta.text
            lis.on_assistant_text(ev.turn_id, text)
        elif isinstance(ev, ReplyEnded):
            with self._lock:
                self._reply_text.pop(ev.turn_id, None)
                self._first_audio_seen.discard(ev.turn_id)
            lis.on_reply_end(ev.turn_id)

    def clear(self) -> None:
        """Forget per-reply state (a new conversation)."""
        with self._lock:
            self._reply_text.clear()
            self._first_audio_seen.clear()
