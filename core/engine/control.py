"""The engine's control thread: the one thread that changes reply state (cancels, joins, starts and finalizes
reply jobs). Every other thread posts to it and goes on: the capture thread (turn ended, barge-in, speculation
candidate or resumed), the output callback (first sample played, reply played out), the device callbacks
(device lost), the reply workers (job done). API calls from the front end wait for their result with `call`.

The thread sleeps on its queue until something is posted; with `idle_s`, `on_idle()` runs after that long without
a post (the engine's watchdog for what produces no event: a stream that stops calling back, a stuck drain).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
_STOP = object()


class ControlThread:
    """A queue of calls run in order on one thread. `post` never blocks (safe in audio callbacks)."""

    def __init__(self, name: str = "engine-replies", idle_s: float | None = None,
                 on_idle: Callable[[], object] | None = None) -> None:
        self._idle_s, self._on_idle = idle_s, on_idle  # on_idle() after idle_s without a call (a watchdog)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._finishing = False
        self._closed = False  # the thread has ended: nothing posted from now on runs (guarded by _lock)
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def on_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def post(self, fn: Callable[..., object], *args: object) -> None:
        """Run fn(*args) on the control thread, later; its errors are logged."""
        self._queue.put((fn, args, None))

    def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run fn(*args) on the control thread and return its result (or raise its error). On the control thread
        itself: run now. RuntimeError if the thread has ended."""
        if self.on_thread():
            return fn(*args)
        future: Future = Future()
        with self._lock:
            if self._closed or not self.alive:
                raise RuntimeError("the engine's control thread is not running")
            self._queue.put((fn, args, future))
        return future.result()

    def finish(self) -> None:
        """End the thread after the call now running (pending calls are dropped; waiting callers get an error)."""
        self._finishing = True
        self._queue.put((_STOP, (), None))

    def join(self, timeout_s: float) -> bool:
        if self.alive and not self.on_thread():
            self._thread.join(timeout_s)
        return not self.alive

    def _main(self) -> None:
        while not self._finishing:
            try:
                fn, args, future = self._queue.get(timeout=self._idle_s)
            except queue.Empty:
                fn, args, future = self._on_idle, (), None
            if fn is _STOP:
                break
            self._run(fn, args, future)
        self._drop_pending()

    @staticmethod
    def _run(fn: Callable[..., object], args: tuple, future: Future | None) -> None:
        try:
            result = fn(*args)
        except Exception as err:  # one failed decision must not stop the engine
            if future is not None:
                future.set_exception(err)
            else:
                log.exception("control thread: %s failed", getattr(fn, "__qualname__", fn))
            return
        if future is not None:
            future.set_result(result)

    def _drop_pending(self) -> None:
        with self._lock:
            self._closed = True
        while True:
            try:
                fn, _, future = self._queue.get_nowait()
            except queue.Empty:
                return
            if future is not None:
                future.set_exception(RuntimeError("the engine stopped before this call ran"))
