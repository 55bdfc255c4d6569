"""Checkpoint management: the first-run guide, a broken checkpoint (one-line error dialog, previous model kept),
the recent list, and the hub download (progress, cancel, completion) against a local fake — no network."""

from __future__ import annotations

import json
import shutil
import threading

from PySide6.QtWidgets import QMessageBox

from app.hub import DECODER_REPO, LISTENER_REPOS, MODEL_REPO, RepoTarget
from app.window.downloader import HubDownloader
from app.window.model_loader import LoadRequest
from tests.ui.helpers import (
    WAIT_MS,
    load_into,
)


def _dismiss_error(qtbot, win) -> str:
    qtbot.waitUntil(lambda: win.last_error_box is not None and win.last_error_box.isVisible(), timeout=WAIT_MS)
    box: QMessageBox = win.last_error_box
    text = box.text()
    box.button(QMessageBox.StandardButton.Ok).click()  # auto-dismiss
    return text


def test_fresh_start_guides_the_user(make_window):
    win = make_window()
    assert win.pages.currentWidget() is win.welcome
    assert win.strip.state_name == "no_model"
    assert not win.controls.entry.isEnabled()
    labels = [b.text() for b in win.welcome.findChildren(type(win.controls.send))]
    assert any("demo — random weights, speaks gibberish" in t for t in labels)
    assert any("Download" in t for t in labels) and any("Open a folder" in t for t in labels)


def test_broken_checkpoint_shows_error_and_previous_model_keeps_working(
    qtbot, make_window, tiny_models, tiny_checkpoint, tmp_path
):
    win = make_window()
    load_into(qtbot, win, tiny_models)
    broken = tmp_path / "broken"
    shutil.copytree(tiny_checkpoint, broken)
    cfg = json.loads((broken / "config.json").read_text())
    cfg["llm_config"]["hidden_size"] = cfg["llm_config"]["hidden_size"] * 2  # shapes no longer match the weights
    (broken / "config.json").write_text(json.dumps(cfg))
    with qtbot.waitSignal(win.load_failed, timeout=WAIT_MS) as failed:
        win.load(LoadRequest(str(broken), tiny_models[-1].decoder, "broken"))
    message = failed.args[0]
    assert "\n" not in message and message
    assert "weights do not match config.json" in message
    details = win.last_error_box.detailedText() or win.last_error_box.text()
    text = _dismiss_error(qtbot, win)
    assert message[:100] in text and message in details and "Still using: tiny test model" in text
    with qtbot.waitSignal(win.load_failed, timeout=WAIT_MS):
        win.load(LoadRequest(str(tmp_path / "missing"), tiny_models[-1].decoder, "missing"))
    assert "does not exist" in _dismiss_error(qtbot, win)
    assert win.session.model_label == "tiny test model"
    with qtbot.waitSignal(win.presenter.reply_ended, timeout=WAIT_MS):
        win.send_text("still there?")
    assert win.conversation_log.find("assistant", 1).text
    recent = [a.text() for a in win.actions_.recent_menu.actions()]
    assert len(recent) == 1 and "tiny test model" in recent[0]


class FakeHub:
    """list_files / download_file with hf_hub_download's shape; `block_on` stalls that file until cancelled."""

    FILES = {MODEL_REPO: [("config.json", 100), ("model.safetensors", 4000)], DECODER_REPO: [("flow.pt", 900)],
             **{repo: [("config.json", 50), ("model.safetensors", 300), ("pytorch_model.bin", 300)]
                for repo in LISTENER_REPOS.values()}}

    def __init__(self, block_on: str | None = None, cache_dir=None) -> None:
        self.cache_dir = cache_dir
        self.block_on = block_on
        self.calls: list[tuple[str, str]] = []
        self.blocked = threading.Event()

    def list_files(self, repo_id: str):
        return self.FILES[repo_id]

    def download_file(self, repo_id, filename, local_dir, tqdm_class):
        self.calls.append((repo_id, filename))
        size = dict(self.FILES[repo_id])[filename]
        bar = tqdm_class(total=size, initial=0, unit="B")
        for _ in range(4):
            if filename == self.block_on:
                self.blocked.set()
                threading.Event().wait(0.05)
            bar.update(size // 4)
        bar.close()
        out = local_dir if local_dir is not None else self.cache_dir / repo_id.replace("/", "--")
        out.mkdir(parents=True, exist_ok=True)
        (out / filename).write_bytes(b"x" * size)
        return str(out / filename)


def test_download_reports_progress_and_completes(qtbot, tmp_path):
    hub = FakeHub()
    targets = (RepoTarget(MODEL_REPO, tmp_path / "m"), RepoTarget(DECODER_REPO, tmp_path / "d"))
    dl = HubDownloader(targets, hub.list_files, hub.download_file, confirmed=True)
    seen: list[float] = []
    dl.progress.connect(lambda done, total, _name: seen.append(done / total))
    with qtbot.waitSignal(dl.finished_ok, timeout=WAIT_MS) as done:
        dl.start()
    assert done.args[0] == [str(tmp_path / "m"), str(tmp_path / "d")]
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 5
    assert (tmp_path / "m" / "model.safetensors").stat().st_size == 4000
    dl.wait(5000)


def test_download_cancel_stops_mid_file(qtbot, tmp_path):
    hub = FakeHub(block_on="model.safetensors")
    dl = HubDownloader((RepoTarget(MODEL_REPO, tmp_path / "m"),), hub.list_files, hub.download_file, confirmed=True)
    with qtbot.waitSignal(dl.cancelled, timeout=WAIT_MS):
        dl.start()
        assert hub.blocked.wait(10)
        dl.cancel()
    assert not (tmp_path / "m" / "model.safetensors").exists()
    assert hub.calls == [(MODEL_REPO, "config.json"), (MODEL_REPO, "model.safetensors")]
    dl.wait(5000)


def test_download_from_the_window_then_loads(qtbot, make_window, tmp_path):
    win = make_window()
    hub = FakeHub(cache_dir=tmp_path / "hub")
    win.actions_.download_fns = {"list_files": hub.list_files, "download_file": hub.download_file}
    with qtbot.waitSignal(win.load_failed, timeout=WAIT_MS):  # the fake files are not a real checkpoint
        dl = win.actions_.start_download()
        dialog = win.actions_.download_dialog
        qtbot.waitUntil(dialog.start_button.isEnabled, timeout=WAIT_MS)  # asks first: size and destination
        assert "GB" in dialog.message.text() or "kB" in dialog.message.text()
        assert str(win.data_root / "models") in dialog.message.text() and not hub.calls
        dialog.start_button.click()
    assert (win.data_root / "models" / "CASIA-LM--OpenS2S" / "config.json").exists()
    # the listeners went along (safetensors only: other frameworks' copies are skipped)
    assert (LISTENER_REPOS["asr"], "model.safetensors") in hub.calls
    assert not any(name.endswith(".bin") for _repo, name in hub.calls)
    _dismiss_error(qtbot, win)
    dl.wait(5000)


def test_no_sound_device_falls_back_to_text_only(qtbot, make_window, tiny_models):
    from tests.engine_fakes import FakeAudio

    win = make_window(audio=FakeAudio(has_input=False, has_output=False))
    load_into(qtbot, win, tiny_models)
    # the fallback is decided on the engine-control thread; the label follows through a queued signal
    qtbot.waitUntil(lambda: win.session.text_only and "text-only" in win.strip.model.text(), timeout=WAIT_MS)
    assert win.last_error_box is None  # no "Audio stopped" dialog: the fallback is explained in the window
    with qtbot.waitSignal(win.presenter.reply_ended, timeout=WAIT_MS):
        win.send_text("can you read me?")
    assert win.conversation_log.find("assistant", 1).text
