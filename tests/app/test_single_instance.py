"""One instance per data dir (issue 31, finding 10): a second window on the same data dir is told so in one line
and exits 2; the lock dies with its process; the demo model appears whole or not at all; two processes saving
settings at once never share a temporary file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict:
    return dict(os.environ, QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS="1", PYTHONPATH=str(REPO),
                OPENS2S_COMPANION_CONFIG_DIR=str(tmp_path / "config"),
                OPENS2S_COMPANION_DATA_DIR=str(tmp_path / "data"))


@pytest.mark.slow
def test_a_second_window_on_the_same_data_dir_says_so_in_one_line_and_exits(tmp_path):
    env = _env(tmp_path)
    log_path = tmp_path / "first.log"
    with open(log_path, "w") as out:
        first = subprocess.Popen([sys.executable, "main.py", "-v", "--quit-after-s", "120"], cwd=REPO, env=env,
                                 stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while "window shown" not in log_path.read_text(errors="replace"):
            assert first.poll() is None and time.monotonic() < deadline, log_path.read_text()[-2000:]
            time.sleep(0.1)
        second = subprocess.run([sys.executable, "main.py", "--quit-after-s", "5"], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=120)
    finally:
        first.send_signal(signal.SIGTERM)
        first_rc = first.wait(60)
    lines = [ln for ln in second.stderr.splitlines() if ln.strip()]
    assert second.returncode == 2, second.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "already running" in lines[0], lines
    assert f"process {first.pid}" in lines[0] and str(tmp_path / "data") in lines[0]
    assert first_rc == 0  # the first window was not disturbed


def test_the_lock_dies_with_its_process(tmp_path):
    from app.window.instance_lock import AlreadyRunning, hold_instance_lock

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from app.window.instance_lock import hold_instance_lock; "
         f"hold_instance_lock({str(tmp_path)!r}); print('held', flush=True); time.sleep(60)"],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(AlreadyRunning, match=f"process {holder.pid}"):
            hold_instance_lock(tmp_path)
    finally:
        holder.kill()  # a crash: no cleanup runs
        holder.wait()
    hold_instance_lock(tmp_path)  # the lock file is still there, but no process holds it


def test_the_demo_model_appears_whole_or_not_at_all(tmp_path, monkeypatch):
    import models.listeners.tiny as tiny
    from app.demo import DEMO_DIR, ensure_demo

    real = tiny.write_tiny_listeners

    def killed(*_a, **_k):
        raise KeyboardInterrupt  # the process is stopped while the demo is being written

    monkeypatch.setattr(tiny, "write_tiny_listeners", killed)
    with pytest.raises(KeyboardInterrupt):
        ensure_demo(tmp_path)
    assert not (tmp_path / DEMO_DIR).exists() and not list(tmp_path.iterdir())  # no half model to load
    monkeypatch.setattr(tiny, "write_tiny_listeners", real)
    model, decoder = ensure_demo(tmp_path)
    assert json.loads((model / "config.json").read_text()) and (decoder / "config.yaml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [DEMO_DIR]


SAVER = """
import sys
from pathlib import Path
from app.settings import AppSettings, SettingsStore
store = SettingsStore(Path(sys.argv[1]))
errors = 0
for i in range(100):
    try:
        store.save(AppSettings(temperature=0.5 + (i % 5) / 10))
    except OSError as err:
        errors += 1
print(errors)
"""


def test_two_processes_saving_settings_at_once_never_collide(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-c", SAVER, str(tmp_path)], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-1500:] for _, err in results]
    assert [out.strip() for out, _ in results] == ["0", "0"], results
    from app.settings import SettingsStore

    store = SettingsStore(tmp_path)
    assert store.load().temperature in (0.5, 0.6, 0.7, 0.8, 0.9) and store.load_warning is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.json"]  # no temporary file left
