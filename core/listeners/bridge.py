"""Feeds realtime-engine events to the listeners (user transcript, user and assistant emotion).

Call `on_event` from the engine's sink. Every listener call only enqueues, so this never delays the reply. The
listeners hold their work (config `hold_until_first_audio`) until the reply's audio is `lead_s` ahead of
playback (`on_reply_first_audio` releases it), or the reply ends, or the listeners' `max_pause_ms` runs out: the
final transcript and the emotions never compete with the model and vocoder for the first audio, nor for the next
chunks, which must come before the first one has played (the first emits only ~0.3 s; with the listeners released
at the first audio, the sink recording of tests/audio/test_pulse_reply_gaps.py had a 96-176 ms gap right after it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from core.engine.events import ReplyAudio, ReplyEnded, ReplyText, UserTurnCaptured
from core.listeners.manager import Listeners

REPLY_LEAD_S = 1.0


class ListenerBridge:
    def __init__(self, listeners: Callable[[], Listeners | None], lead_s: float = REPLY_LEAD_S):
        self._listeners = listeners  # returns the current Listeners (or None while there are none)
        self._lead_s = lead_s
        self._lock = threading.Lock()
        self._reply_text: dict[int, str] = {}
        self._replies: dict[int, list[float]] = {}  # turn id -> [first audio time, seconds generated]
        self._released: set[int] = set()

    def on_event(self, ev: object) -> None:
        lis = self._listeners()
        if lis is None:
            return
        if isinstance(ev, UserTurnCaptured):
            lis.on_user_turn(ev.turn_id, ev.samples)
        elif isinstance(ev, ReplyAudio):
            if self._ahead(ev):
                lis.on_reply_first_audio(ev.turn_id)
        elif isinstance(ev, ReplyText):
            with self._lock:
                text = self._reply_text[ev.turn_id] = self._reply_text.get(ev.turn_id, "") + ev.delta.text
            lis.on_assistant_text(ev.turn_id, text)
        elif isinstance(ev, ReplyEnded):
            with self._lock:
                self._reply_text.pop(ev.turn_id, None)
                self._replies.pop(ev.turn_id, None)
                self._released.discard(ev.turn_id)
            lis.on_reply_end(ev.turn_id)

    def _ahead(self, ev: ReplyAudio) -> bool:
        """True once per reply: its audio made so far is `lead_s` ahead of the time since its first chunk (about
        what has played)."""
        now = time.monotonic()
        with self._lock:
            if ev.turn_id in self._released:
                return False
            clock = self._replies.setdefault(ev.turn_id, [now, 0.0])
            clock[1] += ev.chunk.samples.size / ev.chunk.sample_rate_hz
            if clock[1] - (now - clock[0]) < self._lead_s:
                return False
            self._released.add(ev.turn_id)
            return True

    def clear(self) -> None:
        """Forget per-reply state (a new conversation)."""
        with self._lock:
            self._reply_text.clear()
            self._replies.clear()
            self._released.clear()
