"""Common machinery of a listener: load on its own worker, status, guarded requests and emits."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from core.listeners.config import ListenersConfig
from core.listeners.events import LOADING, READY, ListenerStatus
from core.listeners.loading import ListenerLoadError, ListenerNotDownloaded, resolve_checkpoint, short_error
from core.listeners.worker import Job, ListenerWorker

log = logging.getLogger(__name__)

Emit = Callable[[object], None]
DISABLED_REASON = "disabled in config"


class Listener:
    """Owns one worker thread. Subclasses implement `_load()` (raise ListenerLoadError) and request jobs."""

    name = "listener"

    def __init__(
        self, checkpoint: str, config: ListenersConfig, emit: Emit, load_lock: threading.Lock | None = None
    ) -> None:
        self.checkpoint = checkpoint
        # transformers' lazy imports are not thread-safe: listeners sharing a process load one at a time
        self._load_lock = load_lock or threading.Lock()
        self.config = config
        self._emit_cb = emit
        self._lock = threading.Lock()
        self._status = ListenerStatus(self.name, enabled=False, reason=LOADING, checkpoint=checkpoint)
        self._n_failures = 0
        self._worker = ListenerWorker(self.name, torch_threads=config.torch_threads, nice=config.worker_nice)

    def start(self) -> None:
        """Start the worker; the checkpoint loads there (status "loading" until it is ready or off)."""
        self._worker.start()
        self._worker.submit(self._load_guarded)

    def status(self) -> ListenerStatus:
        with self._lock:
            return self._status

    def pause(self, max_s: float) -> None:
        self._worker.pause(max_s)

    def resume(self) -> None:
        self._worker.resume()

    def wait_idle(self, timeout_s: float) -> bool:
        return self._worker.wait_idle(timeout_s)

    def close(self, timeout_s: float) -> bool:
        return self._worker.stop(timeout_s)

    # -- for subclasses ------------------------------------------------------------------------------------

    def _load(self) -> tuple[str, ...]:
        """Load the checkpoint; return the label set (empty for ASR)."""
        raise NotImplementedError

    def _resolve(self) -> tuple[str, dict[str, Any]]:
        return resolve_checkpoint(self.checkpoint, local_files_only=self.config.local_files_only)

    def _submit(self, fn: Job, *, key: Hashable | None = None, delay_s: float = 0.0) -> None:
        """Queue a request unless the listener is off (loading is fine: it runs after the load job)."""
        status = self.status()
        if status.enabled or status.loading:
            self._worker.submit(lambda: self._run_guarded(fn), key=key, delay_s=delay_s)

    def _drop(self, key: Hashable) -> None:
        self._worker.drop(key)

    def _emit(self, event: object) -> None:
        try:
            self._emit_cb(event)
        except Exception:  # the sink is the caller's code; it must not kill the listener
            log.exception("%s: emit(%s) raised", self.name, type(event).__name__)

    # -- internals -----------------------------------------------------------------------------------------

    def _load_guarded(self) -> None:
        log.info("%s: loading %s", self.name, self.checkpoint)
        try:
            with self._load_lock:
                labels = self._load()
        except ListenerNotDownloaded as err:  # expected (nothing downloaded yet, offline): not a warning
            self._set_off(str(err), level=logging.INFO)
        except ListenerLoadError as err:
            self._set_off(str(err))
        except Exception as err:  # anything unexpected while loading still only turns this listener off
            log.exception("%s: loading %s failed", self.name, self.checkpoint)
            self._set_off(short_error(err))
        else:
            self._set_status(enabled=True, reason=READY, labels=labels)
            log.info("%s: ready (%s)", self.name, self.checkpoint)

    def _run_guarded(self, fn: Job) -> None:
        if not self.status().enabled:
            return
        try:
            fn()
        except Exception as err:  # one failed request is logged and reported, never raised to the caller
            log.exception("%s: request failed", self.name)
            self._record_failure(short_error(err))
        else:
            with self._lock:
                self._n_failures = 0

    def _record_failure(self, message: str) -> None:
        with self._lock:
            self._n_failures += 1
            n_failures = self._n_failures
            self._status = _replace(self._status, last_error=message)
        if n_failures >= self.config.max_consecutive_failures:
            self._set_off(f"failed {n_failures} times in a row; last: {message}")
        else:
            self._emit(self.status())

    def _set_off(self, reason: str, level: int = logging.WARNING) -> None:
        log.log(level, "%s: off — %s", self.name, reason)
        self._set_status(enabled=False, reason=reason)

    def _set_status(self, **changes: Any) -> None:
        with self._lock:
            self._status = _replace(self._status, **changes)
            status = self._status
        self._emit(status)


def _replace(status: ListenerStatus, **changes: Any) -> ListenerStatus:
    fields = {**vars(status), **changes}
    return ListenerStatus(**fields)


def as_samples(samples_16k: object) -> np.ndarray | None:
    """A private float32 mono copy, or None (logged) for unusable input. [N] float32."""
    try:
        arr = np.array(samples_16k, dtype=np.float32, copy=True)
    except (TypeError, ValueError) as err:
        log.warning("listeners: unusable audio (%s)", err)
        return None
    if arr.ndim != 1:
        log.warning("listeners: audio must be mono [N] at 16 kHz, got shape %s", arr.shape)
        return None
    if not np.isfinite(arr).all():
        log.warning("listeners: audio has NaN/inf samples; ignored")
        return None
    return arr


def off_status(name: str, checkpoint: str | None, reason: str) -> ListenerStatus:
    return ListenerStatus(name, enabled=False, reason=reason, checkpoint=checkpoint)
