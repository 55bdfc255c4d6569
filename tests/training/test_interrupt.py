"""Interrupted training: Ctrl-C says what was saved and how to resume; step folders are written atomically and
`--resume auto` takes the newest complete one; an unsafe saved state is one line (issue 31, findings 4 15 16)."""

from __future__ import annotations

import json
import logging
import os
import pickle
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from accelerate.state import AcceleratorState

import core.training.trainer as trainer_module
from app.cli import build_parser
from app.commands import train as train_command
from core.training.config import TrainConfig
from core.training.trainer import Trainer
from models.errors import UserError
from testing.tiny_dataset import write_dataset

ROOT = Path(__file__).resolve().parents[2]
QUICK = dict(stage="bridge", lr=1e-3, batch_size=2)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("interrupt_data"), n=4, audio_every=2, n_units=6)


def _trainer(ckpt, data, out, **kw) -> Trainer:
    AcceleratorState._reset_state(reset_partial_state=True)
    return Trainer(TrainConfig(checkpoint=ckpt, data=data, out=out, device="cpu", progress=False, **{**QUICK, **kw}))


def test_sigint_names_the_saved_state_and_the_command_that_resumes(tiny_checkpoint, data, tmp_path):
    out = tmp_path / "out"
    argv = ["main.py", "train", "--checkpoint", str(tiny_checkpoint), "--data", str(data), "--out", str(out),
            "--stage", "bridge", "--max-steps", "100000", "--batch-size", "2", "--save-every", "2", "--device", "cpu",
            "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENS2S_COMPANION_LOG_DIR": str(tmp_path / "logs")}
    proc = subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as a terminal has it
    try:
        deadline = time.monotonic() + 240
        while not (out / "checkpoints" / "step-4").is_dir():
            assert proc.poll() is None and time.monotonic() < deadline, "no step-4 saved"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=120)[1]
    finally:
        proc.kill()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert proc.returncode == 130 and len(lines) == 1, err[-2000:]
    saved = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert saved[-1] in lines[0] and "resume with: main.py train" in lines[0]
    resume = shlex.split(lines[0].split("resume with: ", 1)[1])
    assert resume == [*argv, "--resume", "auto"]
    assert all((out / "checkpoints" / s / "trainer_state.json").is_file() for s in saved)  # only complete ones


def test_ctrl_c_without_saved_state_says_nothing_resumable(tiny_checkpoint, data, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"

    def interrupt(self, step):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer_module.Trainer, "train_step", interrupt)
    AcceleratorState._reset_state(reset_partial_state=True)
    args = build_parser().parse_args(["train", "--checkpoint", str(tiny_checkpoint), "--data", str(data), "--out",
                                      str(out), "--stage", "bridge", "--max-steps", "3", "--device", "cpu",
                                      "--no-progress"])
    try:
        rc = train_command.run(args)
    except KeyboardInterrupt:  # (escaping here would stop the whole pytest session)
        rc = None
    assert rc == 130
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and "at step 0 of 3" in line and "no resumable state was saved" in line


def test_interrupted_save_leaves_no_step_folder_and_auto_takes_the_newest_complete(tiny_checkpoint, data, tmp_path,
                                                                                    monkeypatch, caplog):
    out = tmp_path / "out"
    real = trainer_module.save_state

    def dies_at_step_4(folder, acc, model, optimizer, scheduler, step, meta):
        if step == 4:
            (folder / "trainable.safetensors").write_bytes(b"half")
            raise KeyboardInterrupt
        real(folder, acc, model, optimizer, scheduler, step, meta)

    monkeypatch.setattr(trainer_module, "save_state", dies_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        _trainer(tiny_checkpoint, data, out, max_steps=6, save_every=2).run()
    monkeypatch.undo()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-2"]  # no step-4, no temporary
    (out / "checkpoints" / "step-9").mkdir()  # an incomplete folder (an older version's interrupted save)
    (out / "checkpoints" / "step-9" / "optimizer.pt").write_bytes(b"half")
    with caplog.at_level(logging.WARNING):
        resumed = _trainer(tiny_checkpoint, data, out, max_steps=6, save_every=2, resume="auto")
    assert resumed.start_step == 2
    assert any("step-9" in r.getMessage() and "incomplete" in r.getMessage() for r in caplog.records)


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_pickled_optimizer_state_is_one_line_and_never_run(tiny_checkpoint, data, tmp_path, monkeypatch):
    out = tmp_path / "out"
    _trainer(tiny_checkpoint, data, out, max_steps=3, save_every=2).run()
    step = out / "checkpoints" / "step-2"
    (step / "optimizer.pt").write_bytes(pickle.dumps({"state": _Payload()}))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="optimizer|cannot be loaded") as err:
        _trainer(tiny_checkpoint, data, out, max_steps=3, save_every=2, resume=str(step))
    assert "\n" not in str(err.value)
    assert not (tmp_path / "PWNED").exists()


def test_unreadable_trainer_state_is_one_line(tiny_checkpoint, data, tmp_path):
    out = tmp_path / "out"
    _trainer(tiny_checkpoint, data, out, max_steps=3, save_every=2).run()
    step = out / "checkpoints" / "step-2"
    (step / "trainer_state.json").write_text("[" * 100_000)
    with pytest.raises(UserError, match="trainer_state.json"):
        _trainer(tiny_checkpoint, data, out, max_steps=3, resume=str(step))
    (step / "trainer_state.json").write_text(json.dumps({"step": "two"}))
    with pytest.raises(UserError, match="trainer_state.json"):
        _trainer(tiny_checkpoint, data, out, max_steps=3, resume=str(step))
