"""core.engine.worker: long-lived daemon worker threads for reply jobs."""

from __future__ import annotations

import threading
import time

from core.engine.worker import Worker, exclusive


def test_tasks_run_in_order_on_one_thread_and_errors_do_not_kill_it():
    w = Worker("t")
    seen: list = []
    tasks = [w.submit(lambda i=i: seen.append((i, threading.current_thread().name))) for i in range(3)]
    boom = w.submit(lambda: 1 / 0)
    after = w.submit(lambda: seen.append(("after", threading.current_thread().name)))
    assert all(t.wait(5) for t in [*tasks, boom, after])
    assert [s[0] for s in seen] == [0, 1, 2, "after"] and {s[1] for s in seen} == {"t"}
    w.close()


def test_a_busy_worker_runs_the_next_task_only_after_the_current_one():
    w = Worker("slow")
    release = threading.Event()
    stuck = w.submit(release.wait)
    assert w.busy()
    after = w.submit(lambda: None)
    assert not after.wait(0.3) and not stuck.done()  # queued behind the task that is still running
    release.set()
    assert stuck.wait(5) and after.wait(5)
    assert not w.busy()
    w.close()


def test_exclusive_serialises_one_model_across_threads():
    model, other = object.__new__(type("M", (), {})), object.__new__(type("N", (), {}))
    inside: list[int] = []
    peak: list[int] = []
    release = threading.Event()

    def use(m, wait: bool) -> None:
        with exclusive(m):
            inside.append(1)
            peak.append(len(inside))
            if wait:
                release.wait(5)
            inside.pop()

    first = threading.Thread(target=use, args=(model, True))
    first.start()
    while not inside:
        time.sleep(0.01)
    second = threading.Thread(target=use, args=(model, False))
    second.start()
    second.join(0.3)
    assert second.is_alive()  # waits for the first user of the same model
    with exclusive(other):  # another model is free meanwhile
        pass
    release.set()
    first.join(5)
    second.join(5)
    assert not second.is_alive() and max(peak) == 1
