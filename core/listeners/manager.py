"""`Listeners`: the one object the engine talks to. Every `on_*` call only enqueues and returns at once.

Events go to the `emit(event)` sink from the listener worker threads (serialised by a lock here):
`UserTranscript`, `TurnEmotion`, and `ListenerStatus` whenever a listener becomes ready or goes off.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from core.listeners.asr import AsrListener
from core.listeners.base import DISABLED_REASON, Listener, as_samples, off_status
from core.listeners.config import ListenersConfig
from core.listeners.emotion import SpeechEmotionListener, TextEmotionListener
from core.listeners.events import ASR, ASSISTANT_EMOTION, LISTENER_NAMES, USER_EMOTION, ListenerStatus

log = logging.getLogger(__name__)

DEFAULT_CLOSE_TIMEOUT_S = 2.0
_REMEMBERED_TURNS = 8  # turn ids whose first audio was reported before their on_user_turn


class Listeners:
    """User transcript, user emotion and assistant emotion beside the reply; each optional and pluggable."""

    def __init__(self, config: ListenersConfig, emit: Callable[[object], None]) -> None:
        self.config = config
        self._emit_cb = emit
        self._emit_lock = threading.Lock()
        self._closed = False
        self._load_lock = threading.Lock()
        self._hold_lock = threading.Lock()
        self._first_audio_turns: deque[int | None] = deque(maxlen=_REMEMBERED_TURNS)
        self._asr = self._make(AsrListener, config.asr_enabled, config.asr_checkpoint)
        self._ser = self._make(SpeechEmotionListener, config.ser_enabled, config.ser_checkpoint)
        self._text = self._make(
            TextEmotionListener, config.text_emotion_enabled, config.text_emotion_checkpoint
        )
        self._off: dict[str, ListenerStatus] = {
            name: off_status(name, None, DISABLED_REASON)
            for name, lis in zip(LISTENER_NAMES, (self._asr, self._ser, self._text), strict=True)
            if lis is None
        }
        for lis in self._active():
            lis.start()

    # -- engine-facing API: all return immediately, never raise --------------------------------------------

    def on_user_audio_partial(self, samples_16k: np.ndarray, turn_id: int | None = None) -> None:
        """New user speech of the open turn ([n] float32, 16 kHz, the samples since the previous call)."""
        if self._asr is None or self._closed:
            return
        self._guard("on_user_audio_partial", self._partial, samples_16k, turn_id)

    def reset_user_audio(self) -> None:
        """Forget the open turn's buffered speech (false start, cancelled turn); no final follows."""
        if self._asr is not None and not self._closed:
            self._guard("reset_user_audio", self._asr.reset_partial)

    def on_user_turn(self, turn_id: int | None, samples_16k: np.ndarray) -> None:
        """The user turn ended; its whole audio ([N] float32, 16 kHz). Final transcript and emotion follow."""
        if self._closed or (self._asr is None and self._ser is None):
            return
        self._guard("on_user_turn", self._user_turn, turn_id, samples_16k)

    def on_reply_first_audio(self, turn_id: int | None) -> None:
        """The reply's first audio is out: listener work held since `on_user_turn` may start now."""
        with self._hold_lock:
            self._first_audio_turns.append(turn_id)
        if not self._closed:
            self._guard("on_reply_first_audio", self.resume)

    def on_assistant_text(self, turn_id: int | None, text_so_far: str) -> None:
        """The reply's text so far (the whole text, not the increment)."""
        if self._text is not None and not self._closed:
            self._guard("on_assistant_text", self._text.update_text, turn_id, str(text_so_far))

    def on_reply_end(self, turn_id: int | None) -> None:
        """The reply is over (also: cancelled); a final assistant emotion for its text follows."""
        if self._closed:
            return
        self._guard("on_reply_end", self.resume)
        if self._text is not None:
            self._guard("on_reply_end", self._text.finish_reply, turn_id)

    def pause(self) -> None:
        """Start no new listener work until `resume()` (at most `max_pause_ms`); running work finishes.

        `on_user_turn` does this itself (config `hold_until_first_audio`) and `on_reply_first_audio` /
        `on_reply_end` resume, so the final transcript and emotions are computed after, not during, the
        reply's first-audio compute.
        """
        for lis in self._active():
            lis.pause(self.config.max_pause_ms / 1000)

    def resume(self) -> None:
        for lis in self._active():
            lis.resume()

    def status(self) -> dict[str, ListenerStatus]:
        """name -> status, for all three listeners (disabled ones are off with "disabled in config")."""
        active = {lis.name: lis.status() for lis in self._active()}
        return {name: active.get(name) or self._off[name] for name in LISTENER_NAMES}

    def wait_ready(self, timeout_s: float) -> bool:
        """Block until every listener finished loading (ready or off). For CLI, tests and benchmarks."""
        deadline_s = time.monotonic() + timeout_s
        while any(s.loading for s in self.status().values()):
            if time.monotonic() >= deadline_s:
                return False
            time.sleep(0.01)
        return True

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until no request is pending or running. For CLI, tests and benchmarks."""
        deadline_s = time.monotonic() + timeout_s
        return all(lis.wait_idle(max(deadline_s - time.monotonic(), 0.0)) for lis in self._active())

    def close(self, timeout_s: float = DEFAULT_CLOSE_TIMEOUT_S) -> bool:
        """Drop pending requests and join the workers; False if one is still busy after `timeout_s`."""
        self._closed = True
        deadline_s = time.monotonic() + timeout_s
        return all([lis.close(max(deadline_s - time.monotonic(), 0.0)) for lis in self._active()])

    def __enter__(self) -> Listeners:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------------------

    def _make(self, cls: type[Listener], enabled: bool, checkpoint: str | None) -> Any:
        if not enabled or checkpoint is None:
            return None
        return cls(checkpoint, self.config, self._emit, self._load_lock)

    def _active(self) -> list[Listener]:
        return [lis for lis in (self._asr, self._ser, self._text) if lis is not None]

    def _partial(self, samples_16k: np.ndarray, turn_id: int | None) -> None:
        samples = as_samples(samples_16k)
        if samples is not None and samples.size:
            self._asr.add_partial_audio(samples, turn_id)

    def _user_turn(self, turn_id: int | None, samples_16k: np.ndarray) -> None:
        samples = as_samples(samples_16k)
        if samples is None:
            return
        with self._hold_lock:
            hold = self.config.hold_until_first_audio and turn_id not in self._first_audio_turns
        if hold:  # before enqueueing, so that no worker starts the new work
            self.pause()
        if self._asr is not None:
            self._asr.finish_turn(turn_id, samples)
        if self._ser is not None:
            self._ser.finish_turn(turn_id, samples)

    def _guard(self, what: str, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # the caller is the realtime engine: log, never raise into it
            log.exception("listeners.%s failed", what)

    def _emit(self, event: object) -> None:
        with self._emit_lock:
            self._emit_cb(event)


__all__ = ["ASR", "ASSISTANT_EMOTION", "USER_EMOTION", "Listeners", "ListenersConfig"]
