"""core.engine.worker: long-lived daemon worker threads for reply jobs."""

from __future__ import annotations

import threading

from core.engine.worker import Worker


def test_tasks_run_in_order_on_one_thread_and_errors_do_not_kill_it():
    w = Worker("t")
    seen: list = []
    tasks = [w.submit(lambda i=i: seen.append((i, threading.current_thread().name))) for i in range(3)]
    boom = w.submit(lambda: 1 / 0)
    after = w.submit(lambda: seen.append(("after", threading.current_thread().name)))
    assert all(t.wait(5) for t in [*tasks, boom, after])
    assert [s[0] for s in seen] == [0, 1, 2, "after"] and {s[1] for s in seen} == {"t"}
    w.close()


def test_a_busy_worker_is_replaced_and_left_to_finish():
    w = Worker("slow")
    release = threading.Event()
    stuck = w.submit(release.wait)
    assert w.busy()
    fresh = w.replace_if_busy()
    assert fresh is not w and fresh.submit(lambda: None).wait(5)  # the new one runs at once
    assert not stuck.done()
    release.set()
    assert stuck.wait(5)
    assert fresh.replace_if_busy() is fresh  # idle: kept
    fresh.close()
