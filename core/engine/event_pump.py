"""The engine-events thread: delivers engine events to the front end's sink, in the order they were put, on one
thread, so that a slow or broken sink never holds up capture, control or the reply workers."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from core.engine.events import EngineEvent

log = logging.getLogger(__name__)

_STOP = object()


class EventPump:
    def __init__(self, sink: Callable[[EngineEvent], None] | None) -> None:
        self._sink = sink
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def put(self, event: EngineEvent) -> None:
        """Never blocks (any thread, audio callbacks included)."""
        self._queue.put(event)

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._main, name="engine-events", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float) -> None:
        """Deliver what was put so far, then end the thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            if self._thread is not threading.current_thread():  # stop() from inside the sink: no self-join
                self._thread.join(timeout_s)
            self._thread = None

    def _main(self) -> None:
        while True:
            event = self._queue.get()
            if event is _STOP:
                return
            if self._sink is None:
                continue
            try:
                self._sink(event)
            except Exception:  # a broken front end must not stop the engine
                log.exception("event sink raised on %s", type(event).__name__)
