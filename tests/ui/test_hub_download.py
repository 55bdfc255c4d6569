"""The real download path: the app's HubDownloader -> huggingface_hub -> a local server that speaks the hub's
file API (tests/ui/fake_hub_server.py, reached through HF_ENDPOINT), serving a tiny checkpoint in the released
layout. Progress, a process killed mid-file then restarted, a dropped connection resumed with Range, cancel,
the server going away, a full disk, offline; after a download from the window the app loads it and answers."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.hub import DECODER_REPO, LISTENER_REPOS, MODEL_REPO, RepoTarget
from app.window.downloader import HubDownloader
from tests.ui.fake_hub_server import FakeHub
from tests.ui.helpers import WAIT_MS

REPO_ROOT = Path(__file__).resolve().parents[2]
BIG_FILE = "model-00002-of-00002.safetensors"  # the largest file of the tiny checkpoint (~7 MB)


@pytest.fixture
def hub(tiny_checkpoint, tiny_decoder_dir, tiny_listener_dirs, monkeypatch, tmp_path):
    repos = {MODEL_REPO: tiny_checkpoint, DECODER_REPO: tiny_decoder_dir,
             LISTENER_REPOS["asr"]: tiny_listener_dirs["asr"],
             LISTENER_REPOS["user_emotion"]: tiny_listener_dirs["ser"],
             LISTENER_REPOS["assistant_emotion"]: tiny_listener_dirs["text_emotion"]}
    server = FakeHub(repos)
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield server
    server.stop()


def _same_tree(a: Path, b: Path) -> bool:
    files = [p.relative_to(a) for p in a.rglob("*") if p.is_file()]
    return bool(files) and all((b / f).read_bytes() == (a / f).read_bytes() for f in files)


def test_download_from_the_window_then_the_app_loads_it_and_answers(qtbot, make_window, hub, tiny_checkpoint):
    win = make_window()
    dl = win.actions_.start_download()
    dialog = win.actions_.download_dialog
    qtbot.waitUntil(dialog.start_button.isEnabled, timeout=WAIT_MS)
    text = dialog.message.text()
    assert " MB" in text and str(win.data_root / "models") in text  # size and destination, before anything moves
    assert not [r for r in hub.requests if r[0] == "GET" and "/resolve/" in r[1]]
    seen: list[float] = []
    dl.progress.connect(lambda done, total, _name: seen.append(done / total))
    with qtbot.waitSignal(win.model_loaded, timeout=WAIT_MS):
        dialog.start_button.click()
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0) and len(seen) > 10
    model_dir = win.data_root / "models" / "CASIA-LM--OpenS2S"
    assert _same_tree(tiny_checkpoint, model_dir)
    cached = Path(os.environ["HF_HUB_CACHE"])
    assert list(cached.rglob("model.safetensors")), "the listeners go into the hub cache"
    qtbot.waitUntil(lambda: win.session.model_label == "OpenS2S", timeout=WAIT_MS)  # set on the control thread
    qtbot.waitUntil(lambda: win.session.engine is not None and win.session.engine.state.value == "listening",
                    timeout=WAIT_MS)
    with qtbot.waitSignal(win.presenter.reply_ended, timeout=WAIT_MS):
        win.send_text("hello from a downloaded model")
    assert win.conversation_log.find("assistant", 1).text
    dl.wait(5000)


def test_a_dropped_connection_resumes_with_a_range_request(qtbot, hub, tmp_path):
    import numpy as np

    # huggingface_hub writes in 10 MiB pieces, so only a file larger than that can resume part-way
    src = tmp_path / "big-repo"
    src.mkdir()
    (src / "weights.safetensors").write_bytes(np.random.default_rng(0).bytes(12 * 1024 * 1024))
    hub.repos["test/big"] = src
    hub.cut_once = {"weights.safetensors": 11 * 1024 * 1024}
    dl = HubDownloader((RepoTarget("test/big", tmp_path / "m"),), confirmed=True)
    seen: list[float] = []
    dl.progress.connect(lambda done, total, _name: seen.append(done / total))
    with qtbot.waitSignal(dl.finished_ok, timeout=WAIT_MS):
        dl.start()
    ranges = [r[2] for r in hub.requests if r[0] == "GET" and r[1].endswith("weights.safetensors")]
    assert ranges == [None, f"bytes={10 * 1024 * 1024}-"], ranges
    assert _same_tree(src, tmp_path / "m")
    assert seen[-1] == pytest.approx(1.0) and max(seen) <= 1.0
    dl.wait(5000)


KILL_SCRIPT = """
import sys
from pathlib import Path
from app.hub import MODEL_REPO, RepoTarget
from app.window.downloader import HubDownloader
dl = HubDownloader((RepoTarget(MODEL_REPO, Path(sys.argv[1])),), confirmed=True)
dl.progress.connect(lambda done, total, name: print(f"{done:.0f} {name}", flush=True))
dl.run()
"""


def test_killed_mid_file_then_restarted_keeps_finished_files(qtbot, hub, tmp_path, tiny_checkpoint):
    hub.chunk_delay_s = 0.02  # ~0.8 MB/s: the big file takes seconds
    out = tmp_path / "m"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(out)], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            text=True, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    try:
        for line in proc.stdout:
            if line.split()[1] == BIG_FILE:  # progress inside the big file
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    assert not (out / BIG_FILE).exists()
    leftovers = list(out.rglob("*.incomplete"))
    assert leftovers, "the killed run left its partial file"
    done_before = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and ".cache" not in p.parts}
    assert done_before, "some files finished before the kill"
    hub.chunk_delay_s = 0.0
    hub.requests.clear()
    dl = HubDownloader((RepoTarget(MODEL_REPO, out),), confirmed=True)
    with qtbot.waitSignal(dl.finished_ok, timeout=WAIT_MS):
        dl.start()
    fetched_again = {r[1].split("/resolve/main/", 1)[1] for r in hub.requests if r[0] == "GET" and "/resolve/" in r[1]}
    assert BIG_FILE in fetched_again and not (fetched_again & done_before)
    assert _same_tree(tiny_checkpoint, out) and not list(out.rglob("*.incomplete"))
    dl.wait(5000)


def test_cancel_closes_at_once_and_nothing_is_reported_after(qtbot, make_window, hub):
    hub.chunk_delay_s = 0.01
    win = make_window()
    dl = win.actions_.start_download()
    dialog = win.actions_.download_dialog
    qtbot.waitUntil(dialog.start_button.isEnabled, timeout=WAIT_MS)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: dialog.bar.value() > 0, timeout=WAIT_MS)
    t0 = time.monotonic()
    dialog.cancel_button.click()
    assert not dialog.isVisible() and time.monotonic() - t0 < 0.5
    assert win.statusBar().currentMessage() == "Download cancelled."
    with qtbot.waitSignal(dl.cancelled, timeout=WAIT_MS):
        pass
    assert win.last_error_box is None and not win._loading


def test_server_going_away_gives_one_plain_line(qtbot, make_window, hub):
    hub.chunk_delay_s = 0.01
    win = make_window()
    dl = win.actions_.start_download()
    dialog = win.actions_.download_dialog
    qtbot.waitUntil(dialog.start_button.isEnabled, timeout=WAIT_MS)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: dialog.bar.value() > 0, timeout=WAIT_MS)
    with qtbot.waitSignal(dl.failed, timeout=WAIT_MS) as failed:
        hub.stop()
    assert failed.args[0].startswith("The download server stopped answering"), failed.args[0]
    qtbot.waitUntil(lambda: win.last_error_box is not None, timeout=WAIT_MS)
    win.last_error_box.close()


def test_offline_says_no_internet_connection_quickly(qtbot, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_ENDPOINT", "http://hub.invalid")
    dl = HubDownloader((RepoTarget(MODEL_REPO, tmp_path / "m"),), confirmed=True)
    t0 = time.monotonic()
    with qtbot.waitSignal(dl.failed, timeout=WAIT_MS) as failed:
        dl.start()
    assert failed.args[0].startswith("No internet connection")
    assert time.monotonic() - t0 < 6.0  # no retry loop
    dl.wait(5000)


@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.fail("mounting a small tmpfs needs root and mount (CI runs as root)")
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)]).returncode != 0:
        pytest.fail("cannot mount a tmpfs here")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)])


def test_full_disk_says_so(qtbot, hub, small_disk):
    dl = HubDownloader((RepoTarget(MODEL_REPO, small_disk / "m"),), confirmed=True)
    planned: list[tuple[float, float]] = []
    dl.planned.connect(lambda total, free: planned.append((total, free)))
    with qtbot.waitSignal(dl.failed, timeout=WAIT_MS) as failed:
        dl.start()
    assert planned and planned[0][0] > planned[0][1]  # the confirmation could warn: more than is free
    assert failed.args[0].startswith("The disk is full"), failed.args[0]
    dl.wait(5000)
