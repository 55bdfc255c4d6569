"""A thread-safe engine event sink that keeps every event, with waiting helpers: for headless front ends,
benchmarks (bench/) and tests. `Engine(..., sink=EventCollector())`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")
QUIET_EVENTS = ("MicLevel",)  # left out of the timeout message (dozens per second)


class EventCollector:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.events: list[object] = []

    def __call__(self, event: object) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def of(self, cls: type[E]) -> list[E]:
        with self._cond:
            return [e for e in self.events if isinstance(e, cls)]

    def wait_for(self, pred: Callable[[object], bool], timeout_s: float = 10.0) -> object:
        """Wait until pred(event) holds for some event; returns it (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for e in self.events:
                    if pred(e):
                        return e
                left = deadline - time.monotonic()
                if left <= 0:
                    names = [type(e).__name__ for e in self.events if type(e).__name__ not in QUIET_EVENTS]
                    raise AssertionError(f"event not seen within {timeout_s} s; got {names}")
                self._cond.wait(left)
