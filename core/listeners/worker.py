"""A low-priority worker thread with a small job queue where a newer keyed job replaces a stale one.

Callers only enqueue (a lock and a list append); the jobs run on the worker thread, which lowers its own
scheduling priority (Linux nice, per thread) and limits torch to a few intra-op threads (per thread with
OpenMP), so it competes as little as possible with the reply's compute.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

log = logging.getLogger(__name__)

Job = Callable[[], None]
_MAX_NICE = 19


@dataclass
class _Pending:
    fn: Job
    key: Hashable | None
    due_s: float  # time.monotonic() after which it may run
    seq: int  # submission order; due jobs run oldest first


@dataclass
class WorkerStats:
    submitted: int = 0
    dropped: int = 0  # replaced by a newer job with the same key, or dropped by `drop(key)`
    run: int = 0
    failed: int = 0


class ListenerWorker:
    """One daemon thread running submitted jobs in order (oldest due job first)."""

    def __init__(self, name: str, *, torch_threads: int = 1, nice: int = 0) -> None:
        self.name = name
        self._torch_threads = torch_threads
        self._nice = nice
        self._cond = threading.Condition()
        self._jobs: list[_Pending] = []
        self._seq = 0
        self._running = False
        self._stopping = False
        self._paused_until_s = 0.0  # time.monotonic(); no job starts before it
        self._stats = WorkerStats()
        self._thread = threading.Thread(target=self._run, name=f"listener-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, fn: Job, *, key: Hashable | None = None, delay_s: float = 0.0) -> bool:
        """Queue `fn`; a pending job with the same `key` is dropped. False once stopping."""
        with self._cond:
            if self._stopping:
                return False
            if key is not None:
                self._drop_locked(key)
            self._seq += 1
            self._jobs.append(_Pending(fn, key, time.monotonic() + max(delay_s, 0.0), self._seq))
            self._stats.submitted += 1
            self._cond.notify_all()
        return True

    def drop(self, key: Hashable) -> int:
        """Drop pending (not yet started) jobs with `key`; returns how many."""
        with self._cond:
            return self._drop_locked(key)

    def pause(self, max_s: float) -> None:
        """Start no new job for up to `max_s` (a running one finishes); `resume()` ends it early."""
        with self._cond:
            self._paused_until_s = time.monotonic() + max_s

    def resume(self) -> None:
        with self._cond:
            self._paused_until_s = 0.0
            self._cond.notify_all()

    def stats(self) -> WorkerStats:
        with self._cond:
            return WorkerStats(**vars(self._stats))

    def idle(self) -> bool:
        with self._cond:
            return not self._jobs and not self._running

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until nothing is pending or running (delayed jobs included); False on timeout."""
        deadline_s = time.monotonic() + timeout_s
        with self._cond:
            while self._jobs or self._running:
                left_s = deadline_s - time.monotonic()
                if left_s <= 0 or not self._thread.is_alive():
                    return False
                self._cond.wait(left_s)
        return True

    def stop(self, timeout_s: float = 2.0) -> bool:
        """Drop pending jobs, let a running one finish, join. False if the thread is still alive after it."""
        with self._cond:
            self._stopping = True
            self._stats.dropped += len(self._jobs)
            self._jobs.clear()
            self._cond.notify_all()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)
        alive = self._thread.is_alive()
        if alive:
            log.warning("listener worker %s did not stop within %.1f s", self.name, timeout_s)
        return not alive

    def _drop_locked(self, key: Hashable) -> int:
        kept = [job for job in self._jobs if job.key != key]
        n_dropped = len(self._jobs) - len(kept)
        self._jobs = kept
        self._stats.dropped += n_dropped
        return n_dropped

    def _next_job(self) -> _Pending | None:
        with self._cond:
            self._running = False
            self._cond.notify_all()
            while not self._stopping:
                now_s = time.monotonic()
                if now_s < self._paused_until_s:
                    self._cond.wait(self._paused_until_s - now_s)
                    continue
                due = [job for job in self._jobs if job.due_s <= now_s]
                if due:
                    job = min(due, key=lambda j: j.seq)
                    self._jobs.remove(job)
                    self._running = True
                    return job
                wait_s = min((job.due_s for job in self._jobs), default=now_s + 3600.0) - now_s
                self._cond.wait(max(wait_s, 0.0))
            return None

    def _run(self) -> None:
        _lower_this_thread(self._nice, self._torch_threads)
        while (job := self._next_job()) is not None:
            try:
                job.fn()
                ok = True
            except Exception:  # a job must never kill the worker; the listener reports its own failures
                log.exception("listener worker %s: job failed", self.name)
                ok = False
            with self._cond:
                self._stats.run += 1
                self._stats.failed += 0 if ok else 1


def _lower_this_thread(nice: int, torch_threads: int) -> None:
    """Nice this thread (Linux threads are tasks) and limit torch's intra-op threads for it."""
    if nice > 0 and hasattr(os, "setpriority"):
        try:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, min(os.getpriority(os.PRIO_PROCESS, tid) + nice, _MAX_NICE))
        except OSError as err:
            log.warning("could not lower listener thread priority: %s", err)
    import torch  # deferred: importing this module must stay cheap

    torch.set_num_threads(torch_threads)
