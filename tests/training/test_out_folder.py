"""`train --out`: inputs are never touched, chained stages start their own log, a reused OUT is announced or refused,
resumable states are pruned, and the model export is swapped in only when complete (issue 31, findings 1 2 3 8)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from accelerate.state import AcceleratorState

from core.training.config import TrainConfig
from core.training.trainer import Trainer
from models.errors import UserError
from testing.tiny_dataset import write_dataset

ROOT = Path(__file__).resolve().parents[2]
QUICK = dict(stage="bridge", lr=1e-3, max_steps=2, batch_size=2)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("out_data"), n=4, audio_every=2, n_units=6)


def _cfg(ckpt, data, out, **kw) -> TrainConfig:
    return TrainConfig(checkpoint=ckpt, data=data, out=out, device="cpu", progress=False, **{**QUICK, **kw})


def _train(ckpt, data, out, **kw) -> Trainer:
    AcceleratorState._reset_state(reset_partial_state=True)
    trainer = Trainer(_cfg(ckpt, data, out, **kw))
    trainer.run()
    return trainer


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("where", ["same", "inside"])
def test_out_equal_to_or_inside_the_checkpoint_is_refused_and_the_checkpoint_kept(tiny_checkpoint, data, tmp_path,
                                                                                  where):
    ck = shutil.copytree(tiny_checkpoint, tmp_path / "ck")
    before = _digests(ck)
    out = ck if where == "same" else ck / "trained"
    with pytest.raises(UserError, match="--checkpoint") as err:
        _train(ck, data, out)
    assert "\n" not in str(err.value)
    assert _digests(ck) == before


def test_out_holding_the_data_is_refused(tiny_checkpoint, data, tmp_path):
    with pytest.raises(UserError, match="contains --data"):
        _train(tiny_checkpoint, data, data.parent)


def test_chained_stage_starts_its_own_log_and_copies_no_run_files(tiny_checkpoint, data, tmp_path):
    first = tmp_path / "bridge"
    _train(tiny_checkpoint, data, first, max_steps=3, save_every=1)  # leaves checkpoints/step-1, step-2
    (first / "adapter").mkdir()  # as a --save-adapter run leaves it
    (first / "adapter" / "adapter_config.json").write_text("{}")
    second = tmp_path / "lora"
    _train(first, data, second, stage="lora")
    rows = [json.loads(x) for x in (second / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["stage"] == "lora" and all(r.get("stage", "lora") == "lora" for r in rows)
    assert not (second / "checkpoints").exists() and not (second / "adapter").exists()
    assert {"tokenizer.json", "generation_config.json", "audio", "tts", "config.json"} <= {
        p.name for p in second.iterdir()}


def test_fresh_run_refuses_an_out_with_step_folders_of_an_earlier_run(tiny_checkpoint, data, tmp_path):
    out = tmp_path / "out"
    _train(tiny_checkpoint, data, out, max_steps=3, save_every=1)
    with pytest.raises(UserError, match="--resume auto"):
        _train(tiny_checkpoint, data, out)


def test_fresh_run_into_a_nonempty_out_warns_and_keeps_other_files(tiny_checkpoint, data, tmp_path, caplog):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with caplog.at_level(logging.WARNING):
        _train(tiny_checkpoint, data, out)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "not empty" in
              r.getMessage()]
    assert len(warned) == 1 and "kept" in warned[0], caplog.text
    assert (out / "notes.txt").read_text() == "mine"  # a side-file name, but not one the export writes


def test_out_holding_a_checkpoint_train_did_not_write_is_refused(tiny_checkpoint, data, tmp_path):
    other = shutil.copytree(tiny_checkpoint, tmp_path / "downloaded")
    before = _digests(other)
    with pytest.raises(UserError, match="did not write"):
        _train(tiny_checkpoint, data, other)
    assert _digests(other) == before


def test_keep_checkpoints_deletes_older_step_folders_of_this_run_only(tiny_checkpoint, data, tmp_path):
    out = tmp_path / "out"
    _train(tiny_checkpoint, data, out, max_steps=3, save_every=1, keep_checkpoints=0)
    steps = out / "checkpoints"
    assert sorted(p.name for p in steps.iterdir()) == ["step-1", "step-2"]
    foreign = shutil.copytree(steps / "step-1", steps / "step-0")  # saved by other settings: not this run's
    state = json.loads((foreign / "trainer_state.json").read_text())
    (foreign / "trainer_state.json").write_text(json.dumps({**state, "seed": 99, "step": 0}))
    _train(tiny_checkpoint, data, out, max_steps=7, save_every=1, resume="auto", keep_checkpoints=2)
    assert sorted(p.name for p in steps.iterdir()) == ["step-0", "step-5", "step-6"]


def test_rerun_replaces_its_previous_export_and_drops_stale_shards(tiny_checkpoint, data, tmp_path):
    out = tmp_path / "out"
    _train(tiny_checkpoint, data, out, max_shard_size="1MB")
    assert (out / "model.safetensors.index.json").is_file()
    _train(tiny_checkpoint, data, out, lr=5e-3)
    names = {p.name for p in out.iterdir()}
    assert "model.safetensors" in names and not any(n.startswith("model-") or n.endswith("index.json") for n in names)
    assert not any(n.startswith(".") for n in names)  # no staging folder left behind


def test_failed_export_leaves_the_previous_model_intact(tiny_checkpoint, data, tmp_path):
    """`ulimit -f 3000` (the tiny model's weights are ~8 MB): the new weights cannot be written."""
    out = tmp_path / "out"
    _train(tiny_checkpoint, data, out)
    before = {k: v for k, v in _digests(out).items() if k != "metrics.jsonl"}
    limit = 3000 * 1024
    cmd = [sys.executable, "main.py", "train", "--checkpoint", str(tiny_checkpoint), "--data", str(data), "--out",
           str(out), "--stage", "bridge", "--lr", "5e-3", "--max-steps", "2", "--batch-size", "2", "--device", "cpu",
           "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENS2S_COMPANION_LOG_DIR": str(tmp_path / "logs")}
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                         preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    lines = [ln for ln in run.stderr.splitlines() if ln.strip() and " WARNING " not in ln]
    assert run.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), run.stderr[-2000:]
    after = {k: v for k, v in _digests(out).items() if k != "metrics.jsonl"}
    assert after == before
