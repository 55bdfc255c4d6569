"""A long-lived daemon worker thread that runs one task at a time.

Reply jobs run their model and vocoder loops on two of these, owned by the engine, instead of starting two
threads per reply: a fresh thread starts with a cold malloc arena and caches, which cost ~3 % of the time to
first audio on the small preset (bench/suite.py). A task submitted while the worker is busy waits its turn: a new
reply never runs beside one that outlived its cancel. `exclusive(model)` extends that to every thread and engine:
one reply loop at a time per model object. Workers are daemons, so they never block interpreter exit.

Each worker sets its own torch intra-op thread count when it starts (`torch_threads`, default the app's count,
core.compute.app_cpu_threads): a thread inherits 1 once a listener thread has set 1 for itself.
"""

from __future__ import annotations

import logging
import queue
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

_STOP = object()


class Task:
    """A submitted callable; `wait(timeout_s)` -> True once it has returned (or raised: logged, not re-raised)."""

    def __init__(self, fn: Callable[[], None]) -> None:
        self.fn = fn
        self._done = threading.Event()

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout_s: float | None = None) -> bool:
        return self._done.wait(timeout_s)

    def run(self) -> None:
        try:
            self.fn()
        except Exception:  # the task's own error handling failed; keep the worker alive for the next one
            log.exception("worker task %r raised", self.fn)
        finally:
            self._done.set()


class Worker:
    """One daemon thread, tasks in submission order. `close()` lets it finish the current task and exit."""

    def __init__(self, name: str, torch_threads: int | None = None) -> None:
        self.name = name
        self.torch_threads = torch_threads
        self._queue: queue.Queue = queue.Queue()
        self._current: Task | None = None
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], None]) -> Task:
        task = Task(fn)
        self._queue.put(task)
        return task

    def busy(self) -> bool:
        current = self._current
        return (current is not None and not current.done()) or not self._queue.empty()

    def close(self) -> None:
        self._queue.put(_STOP)

    def join(self, timeout_s: float) -> bool:
        """After close(): wait for the thread to end. True once it has."""
        if self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _main(self) -> None:
        from core.compute import apply_cpu_threads

        try:
            apply_cpu_threads(self.torch_threads)
        except Exception:  # never let a thread-count call keep the worker from running its tasks
            log.warning("worker %s: could not set torch threads", self.name, exc_info=True)
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            self._current = item
            item.run()
            self._current = None


_model_locks: weakref.WeakKeyDictionary[object, threading.Lock] = weakref.WeakKeyDictionary()
_unweakable_locks: dict[int, threading.Lock] = {}  # models without weak references (kept for the process)
_model_locks_guard = threading.Lock()


def _lock_of(model: object) -> threading.Lock:
    with _model_locks_guard:
        try:
            return _model_locks.setdefault(model, threading.Lock())
        except TypeError:
            return _unweakable_locks.setdefault(id(model), threading.Lock())


@contextmanager
def exclusive(model: object) -> Iterator[None]:
    """Run the block while no other `exclusive(model)` block runs (any thread, any engine): a reply that
    outlived its cancel keeps its model until it returns, and the next one waits for it."""
    lock = _lock_of(model)
    if not lock.acquire(blocking=False):
        log.debug("%s is still busy with an earlier reply; waiting for it", type(model).__name__)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
