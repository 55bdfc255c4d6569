"""ListenerWorker and ListenersConfig: no models involved."""

from __future__ import annotations

import os
import threading
import time

import pytest

from core.listeners import ListenersConfig
from core.listeners.worker import ListenerWorker

JOIN_S = 2.0


@pytest.fixture
def worker():
    w = ListenerWorker("test", torch_threads=1, nice=5)
    w.start()
    yield w
    assert w.stop(JOIN_S)


def _block(worker: ListenerWorker) -> threading.Event:
    """Occupy the worker until the returned event is set."""
    started, release = threading.Event(), threading.Event()
    worker.submit(lambda: (started.set(), release.wait(JOIN_S)))
    assert started.wait(JOIN_S)
    return release


def test_keyed_job_replaces_stale_one(worker):
    release = _block(worker)
    ran: list[int] = []
    for i in range(5):
        worker.submit(lambda i=i: ran.append(i), key="partial")
    worker.submit(lambda: ran.append(99))  # unkeyed: never dropped
    release.set()
    assert worker.wait_idle(JOIN_S)
    assert ran == [4, 99]
    assert worker.stats().dropped == 4


def test_drop_removes_pending_keyed_jobs(worker):
    release = _block(worker)
    ran: list[str] = []
    worker.submit(lambda: ran.append("p"), key="partial")
    assert worker.drop("partial") == 1
    worker.submit(lambda: ran.append("final"))
    release.set()
    assert worker.wait_idle(JOIN_S)
    assert ran == ["final"]


def test_delayed_job_waits_and_due_jobs_run_in_order(worker):
    ran: list[tuple[str, float]] = []
    t0 = time.monotonic()
    worker.submit(lambda: ran.append(("late", time.monotonic() - t0)), delay_s=0.2)
    worker.submit(lambda: ran.append(("now", time.monotonic() - t0)))
    assert worker.wait_idle(JOIN_S)
    assert [name for name, _ in ran] == ["now", "late"]
    assert ran[1][1] >= 0.2


def test_failing_job_does_not_kill_the_worker(worker):
    worker.submit(lambda: 1 / 0)
    done = threading.Event()
    worker.submit(done.set)
    assert done.wait(JOIN_S)
    assert worker.stats().failed == 1


def test_worker_thread_is_niced_and_torch_limited(worker):
    import torch

    seen: dict[str, int] = {}

    def probe() -> None:
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        seen["threads"] = torch.get_num_threads()

    worker.submit(probe)
    assert worker.wait_idle(JOIN_S)
    assert seen["nice"] == os.getpriority(os.PRIO_PROCESS, 0) + 5
    assert seen["threads"] == 1


def test_stop_joins_and_refuses_new_jobs():
    w = ListenerWorker("stop", torch_threads=1)
    w.start()
    release = _block(w)
    ran: list[int] = []
    w.submit(lambda: ran.append(1))
    threading.Timer(0.1, release.set).start()
    t0 = time.monotonic()
    assert w.stop(JOIN_S)
    assert time.monotonic() - t0 < JOIN_S
    assert ran == []  # pending work is dropped on stop
    assert not w.submit(lambda: ran.append(2))


@pytest.mark.parametrize(
    "field, value",
    [
        ("partial_interval_ms", -1),
        ("asr_max_new_tokens", 0),
        ("torch_threads", 0),
        ("worker_nice", 20),
        ("device", "tpu"),
        ("asr_checkpoint", "  "),
        ("ser_max_audio_ms", 1.5),
    ],
)
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field.split("_")[0]):
        ListenersConfig(**{field: value})


def test_config_is_frozen():
    cfg = ListenersConfig(device="cuda:1", asr_checkpoint=None)
    with pytest.raises(AttributeError):
        cfg.device = "cpu"


def test_pause_holds_new_jobs_until_resume_or_expiry(worker):
    ran = threading.Event()
    worker.pause(10.0)
    worker.submit(ran.set)
    assert not ran.wait(0.2)
    worker.resume()
    assert ran.wait(JOIN_S)
    ran.clear()
    t0 = time.monotonic()
    worker.pause(0.2)  # forgotten resume: the pause ends by itself
    worker.submit(ran.set)
    assert ran.wait(JOIN_S)
    assert time.monotonic() - t0 >= 0.2
