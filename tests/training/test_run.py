"""`train` on tiny checkpoints (CPU): the loss falls, resume is exact, gradient accumulation and 2 processes (gloo,
`accelerate launch` with assets/accelerate/cpu_2proc.yaml) match one process with the same global batch, and the
output loads and replies (merged and as an adapter)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from accelerate.state import AcceleratorState
from safetensors.torch import load_file

from core.lm.conversation import Conversation
from core.lm.events import TurnEnd
from core.lm.runner import OpenS2SRunner
from core.lm.sampling import SamplingConfig
from core.training.config import TrainConfig
from core.training.loss import base_causal_lm
from core.training.setup import eval_losses, load_training_set
from core.training.stages import LoraSpec
from core.training.trainer import Trainer
from models.adapter import apply_adapter
from models.checkpoint import load_checkpoint
from testing.tiny_dataset import write_dataset
from tests.cpu_paths import BF16_FORCED_PATH_ARTIFACT

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("train_data"), n=8, audio_every=2, n_units=6)


def _steps(out: Path) -> list[dict]:
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if "loss" in r]


def _train(ckpt, data, out, **kw) -> Trainer:
    # accelerate keeps one process-wide state (device, precision); each in-process run here is its own "launch"
    AcceleratorState._reset_state(reset_partial_state=True)
    cfg = TrainConfig(checkpoint=ckpt, data=data, out=out, device="cpu", progress=False, **kw)
    trainer = Trainer(cfg)
    trainer.run()
    return trainer


def _mean_loss(ckpt_dir: Path, data: Path) -> float:
    """Token-mean loss over the file in batches of 2 (what the trainer's eval reports at --batch-size 2; batched
    clips see each other through the adapter, as in the reference, so the batch size matters)."""
    ck = load_checkpoint(ckpt_dir, torch.device("cpu"), torch.float32)
    rows = list(eval_losses(ck, load_training_set(ck, data).examples, 2, torch.device("cpu"), torch.float32))
    llm = sum(r["llm_loss"] * r["n_llm_tokens"] for r in rows) / sum(r["n_llm_tokens"] for r in rows)
    return llm + sum(r["tts_loss"] * r["n_tts_tokens"] for r in rows) / sum(r["n_tts_tokens"] for r in rows)


def test_40_steps_lower_the_loss(tiny_checkpoint, data, tmp_path):
    before = _mean_loss(tiny_checkpoint, data)
    out = tmp_path / "out"
    _train(tiny_checkpoint, data, out, stage="full", lr=1e-3, max_steps=40, batch_size=2, warmup_steps=4,
           eval_data=data, eval_every=20)
    steps = _steps(out)
    assert len(steps) == 40 and steps[-1]["lr"] > 0
    evals = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if "eval_loss" in x]
    assert [e["step"] for e in evals] == [20, 40]
    after = _mean_loss(out, data)
    assert after < 0.5 * before, (before, after)
    assert evals[-1]["eval_loss"] == pytest.approx(after, rel=1e-4)  # the eval loss is the loss command's


def test_resume_after_step_k_equals_uninterrupted(tiny_checkpoint, data, tmp_path):
    # LoRA dropout draws from the RNG: resuming must restore it, the optimizer, the scheduler and the data position
    kw = dict(stage="lora", lr=2e-3, max_steps=6, batch_size=2, warmup_steps=2, lora=LoraSpec(dropout=0.1),
              save_adapter=True)
    full = tmp_path / "full"
    _train(tiny_checkpoint, data, full, save_every=3, **kw)
    assert (full / "checkpoints" / "step-3" / "trainer_state.json").is_file()
    resumed = tmp_path / "resumed"
    _train(tiny_checkpoint, data, resumed, resume=str(full / "checkpoints" / "step-3"), **kw)
    a, b = _steps(full), _steps(resumed)
    assert [r["step"] for r in b] == [4, 5, 6]
    for x, y in zip(a[3:], b, strict=True):
        assert y["loss"] == pytest.approx(x["loss"], abs=1e-6) and y["lr"] == x["lr"]
    wa, wb = load_file(str(full / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) < 1e-6


def test_grad_accumulation_and_checkpointing_match_one_batch(tiny_checkpoint, data, tmp_path):
    one = _train(tiny_checkpoint, data, tmp_path / "one", stage="bridge", lr=1e-3, max_steps=3, batch_size=2)
    acc = _train(tiny_checkpoint, data, tmp_path / "acc", stage="bridge", lr=1e-3, max_steps=3, batch_size=1,
                 grad_accum=2)
    ckpt = _train(tiny_checkpoint, data, tmp_path / "ckpt", stage="bridge", lr=1e-3, max_steps=3, batch_size=2,
                  grad_checkpointing=True)
    assert one.global_batch == acc.global_batch == 2
    assert any(getattr(m, "gradient_checkpointing", False) for m in base_causal_lm(ckpt.ckpt.model.llm_model).modules())
    for x, y, z in zip(_steps(tmp_path / "one"), _steps(tmp_path / "acc"), _steps(tmp_path / "ckpt"), strict=True):
        assert y["loss"] == pytest.approx(x["loss"], abs=1e-5)
        assert z["loss"] == pytest.approx(x["loss"], abs=1e-5) and z["grad_norm"] == pytest.approx(x["grad_norm"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_match_one(tiny_checkpoint, data, tmp_path):
    common = ["main.py", "train", "--checkpoint", str(tiny_checkpoint), "--data", str(data), "--stage", "full",
              "--lr", "1e-3", "--max-steps", "3", "--device", "cpu", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
              str(ROOT / "assets" / "accelerate" / "cpu_2proc.yaml"), "--main_process_port", str(_free_port())]
    two = subprocess.run([*launch, *common, "--out", str(tmp_path / "two"), "--batch-size", "1"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    one = subprocess.run([sys.executable, *common, "--out", str(tmp_path / "one"), "--batch-size", "2"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    start = json.loads((tmp_path / "two" / "metrics.jsonl").read_text().splitlines()[0])
    assert start["num_processes"] == 2 and start["global_batch"] == 2  # really two processes
    for x, y in zip(_steps(tmp_path / "one"), _steps(tmp_path / "two"), strict=True):
        assert y["loss"] == pytest.approx(x["loss"], abs=1e-5)
        assert y["tokens"] == x["tokens"]
    wa, wb = load_file(str(tmp_path / "one" / "model.safetensors")), load_file(str(tmp_path / "two" /
                                                                                   "model.safetensors"))
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) < 1e-5


def _reply(runner: OpenS2SRunner) -> TurnEnd:
    conv = Conversation()
    conv.add_user_text("Hello! How are you today?")
    events = list(runner.reply(conv, SamplingConfig(greedy=True, max_text_tokens=6, max_units=12)))
    return events[-1]


def test_trained_checkpoint_loads_and_replies(tiny_checkpoint, data, tmp_path):
    out = tmp_path / "lora"
    _train(tiny_checkpoint, data, out, stage="lora", lr=5e-3, max_steps=2, batch_size=2, save_adapter=True)
    base_files = {p.relative_to(tiny_checkpoint) for p in tiny_checkpoint.rglob("*") if p.is_file()
                  and "safetensors" not in p.name}
    out_files = {p.relative_to(out) for p in out.rglob("*") if p.is_file()}
    assert base_files <= out_files  # tokenizers, generation configs, tts/, audio/, config.json
    end = _reply(OpenS2SRunner.load(out, device="cpu"))
    assert isinstance(end, TurnEnd) and end.n_text_tokens > 0
    trained = load_checkpoint(out, torch.device("cpu"), torch.float32).model.state_dict()
    base = load_checkpoint(tiny_checkpoint, torch.device("cpu"), torch.float32)
    before = {k: v.clone() for k, v in base.model.state_dict().items()}
    assert set(trained) == set(before)  # released key names, LoRA merged
    moved = [k for k in trained if not torch.equal(trained[k], before[k])]
    assert any("q_proj" in k for k in moved) and any(k.startswith("audio_adapter.") for k in moved)
    assert not any(k.startswith(("audio_encoder_model.", "tts_lm_model.model.")) for k in moved)
    apply_adapter(base.model, out / "adapter")  # base + adapter folder == the merged checkpoint
    merged = base.model.state_dict()
    assert max(float((merged[k] - trained[k]).abs().max()) for k in trained) < 1e-5
    # opening the adapter folder where a checkpoint is expected (reply, converse, the app) loads base + adapter
    runner = OpenS2SRunner.load(out / "adapter", device="cpu")
    assert max(float((runner.model.state_dict()[k] - trained[k]).abs().max()) for k in trained) < 1e-5
    assert _reply(runner).n_text_tokens > 0


@BF16_FORCED_PATH_ARTIFACT
def test_bf16_path_runs_and_tracks_fp32(tiny_checkpoint, data, tmp_path):
    """The CUDA recipe (bf16 frozen weights, fp32 trainable weights, bf16 autocast), run on the CPU."""
    kw = dict(stage="lora", lr=1e-3, max_steps=2, batch_size=2, lora=LoraSpec(dropout=0.0))
    _train(tiny_checkpoint, data, tmp_path / "fp32", **kw)
    bf = _train(tiny_checkpoint, data, tmp_path / "bf16", precision="bf16", **kw)
    assert bf.frozen_dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in bf.params)
    for x, y in zip(_steps(tmp_path / "fp32"), _steps(tmp_path / "bf16"), strict=True):
        assert y["loss"] == pytest.approx(x["loss"], rel=2e-2)  # bf16 has 8 mantissa bits
    weights = load_file(str(tmp_path / "bf16" / "model.safetensors"))
    assert {v.dtype for v in weights.values()} == {torch.bfloat16}  # saved like the release
    assert _reply(OpenS2SRunner.load(tmp_path / "bf16", device="cpu")).n_text_tokens > 0


def test_bad_settings_are_one_line_errors(tiny_checkpoint, data, tmp_path):
    from models.errors import UserError

    with pytest.raises(UserError, match="--save-adapter needs --stage lora"):
        TrainConfig(checkpoint=tiny_checkpoint, data=data, out=tmp_path, stage="full", save_adapter=True)
    with pytest.raises(UserError, match="usable example"):
        AcceleratorState._reset_state(reset_partial_state=True)
        Trainer(TrainConfig(checkpoint=tiny_checkpoint, data=data, out=tmp_path, batch_size=16, device="cpu"))
