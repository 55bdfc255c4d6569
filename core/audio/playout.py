"""Jitter buffer between the vocoder thread (writer) and the output callback (reader).

One reply at a time. Playout of a reply starts once `prebuffer` samples are queued (or its input has ended);
after that an empty buffer mid-reply is an underrun: the callback plays silence and counts it. `stop()` drops
everything at once (barge-in): the very next callback is silent; `pause()` silences it too but keeps the queue and
the position, so `resume()` goes on where it stopped (speech over a reply that may turn out to be a backchannel).
All counts are in output-device samples.
A listener (`set_listener`) hears each change a supervisor waits for: the first sample played, the reply done.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PlayoutStats:
    reply_id: int
    written: int  # samples queued for this reply
    played: int  # samples handed to the device
    underruns: int  # callbacks that ran dry mid-reply
    underrun_samples: int  # silence inserted by those
    first_play_t: float | None  # time.monotonic() of the callback that played the first sample
    done: bool  # input ended and everything played (or stopped)
    paused: bool = False  # silenced by pause(), queue kept


class PlayoutBuffer:
    def __init__(self, prebuffer_samples: int) -> None:
        self._prebuffer = max(0, int(prebuffer_samples))
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._first = threading.Event()
        self._listener: Callable[[], None] | None = None
        self._reset(reply_id=-1)
        self._done.set()

    def _reset(self, reply_id: int) -> None:
        self._reply_id = reply_id
        self._chunks: collections.deque[np.ndarray] = collections.deque()
        self._offset = 0  # samples already consumed from _chunks[0]
        self._queued = 0
        self._written = 0
        self._played = 0
        self._underruns = 0
        self._underrun_samples = 0
        self._started = False
        self._ended = False
        self._paused = False
        self._first_play_t: float | None = None

    def set_prebuffer(self, samples: int) -> None:
        with self._lock:
            self._prebuffer = max(0, int(samples))

    def set_listener(self, listener: Callable[[], None] | None) -> None:
        """`listener()` is called (outside the lock; from the output callback too, so it must not block) after
        the first sample of a reply is played and after a reply is done."""
        self._listener = listener

    def _notify(self) -> None:
        listener = self._listener
        if listener is not None:
            listener()

    # -- writer side -------------------------------------------------------------------------------------
    def begin(self, reply_id: int) -> None:
        with self._lock:
            self._reset(reply_id)
            self._done.clear()
            self._first.clear()

    def write(self, reply_id: int, samples: np.ndarray) -> bool:
        """samples: [N] float32 at the device rate. False (ignored) when `reply_id` is no longer current."""
        if samples.size == 0:
            return True
        with self._lock:
            if reply_id != self._reply_id or self._ended:
                return False
            self._chunks.append(np.ascontiguousarray(samples, dtype=np.float32))
            self._queued += samples.size
            self._written += samples.size
            return True

    def end(self, reply_id: int) -> None:
        """No more input for this reply; it is done once the queue has played out."""
        with self._lock:
            if reply_id != self._reply_id:
                return
            self._ended = True
            if self._queued > 0:
                return
            self._done.set()
        self._notify()

    def stop(self) -> int:
        """Drop all queued audio now; returns the number of samples dropped."""
        with self._lock:
            dropped = self._queued
            self._chunks.clear()
            self._offset = 0
            self._queued = 0
            self._ended = True
            self._paused = False
            self._done.set()
        self._notify()
        return dropped

    def pause(self, reply_id: int) -> bool:
        """Silence `reply_id` from the next callback, keeping what is queued. False when it is not current."""
        with self._lock:
            if reply_id != self._reply_id or self._done.is_set():
                return False
            self._paused = True
            return True

    def resume(self, reply_id: int) -> bool:
        """Play `reply_id` on from where pause() stopped it. False when it is not current or not paused."""
        with self._lock:
            if reply_id != self._reply_id or not self._paused:
                return False
            self._paused = False
            return True

    # -- reader side (output callback) ---------------------------------------------------------------------
    def fill(self, out: np.ndarray) -> None:
        """out: [frames] float32, written in place. Never blocks beyond the short lock."""
        changed = False
        with self._lock:
            n = out.shape[0]
            if self._paused:
                out[:] = 0.0
                return
            if not self._started:
                if self._queued == 0 or (self._queued < self._prebuffer and not self._ended):
                    out[:] = 0.0
                    return
                self._started = True
                self._first_play_t = time.monotonic()
                self._first.set()
                changed = True
            got = self._copy_into(out, n)
            if got < n:
                out[got:] = 0.0
                if self._ended:
                    changed = changed or not self._done.is_set()
                    self._done.set()
                elif self._reply_id >= 0:
                    self._underruns += 1
                    self._underrun_samples += n - got
            self._played += got
        if changed:
            self._notify()

    def _copy_into(self, out: np.ndarray, n: int) -> int:
        got = 0
        while got < n and self._chunks:
            head = self._chunks[0]
            take = min(n - got, head.size - self._offset)
            out[got : got + take] = head[self._offset : self._offset + take]
            got += take
            self._offset += take
            if self._offset == head.size:
                self._chunks.popleft()
                self._offset = 0
        self._queued -= got
        return got

    # -- observers -----------------------------------------------------------------------------------------
    def stats(self) -> PlayoutStats:
        with self._lock:
            return PlayoutStats(
                self._reply_id,
                self._written,
                self._played,
                self._underruns,
                self._underrun_samples,
                self._first_play_t,
                self._done.is_set(),
                self._paused,
            )

    def wait_first_play(self, timeout_s: float) -> bool:
        return self._first.wait(timeout_s)

    def wait_done(self, timeout_s: float) -> bool:
        return self._done.wait(timeout_s)
