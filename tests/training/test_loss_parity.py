"""`main.py loss` against the public reference's training forward (CASIA-LM/OpenS2S @ 359565cd).

tests/reference/reference_training_loss.json holds numbers only, made by scripts/parity/training_loss_reference.py
(reference `process_dataset` + `InstructionDataCollator` + `OmniSpeechModel.forward`, transformers 4.51.3, fp32, CPU,
eval mode) on the seed-0 tiny checkpoint and `write_parity_dataset`: each example alone, and batches of two (a clip
+ a text turn; two clips of different lengths, one reply unspoken; no audio and no units at all).
Observed difference: <= 2.2e-6 (fp32 summation order); the issue's bound is 1e-4.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.training.setup import eval_losses, load_training_set
from models.checkpoint import load_checkpoint
from testing.tiny_dataset import write_parity_dataset
from tests.lm.test_reference_parity import _fingerprint

ROOT = Path(__file__).resolve().parents[2]
REF = json.loads((ROOT / "tests" / "reference" / "reference_training_loss.json").read_text())
TOL = 1e-4


def _loss_cli(ckpt: Path, data: Path, batch_size: int) -> list[dict]:
    res = subprocess.run([sys.executable, str(ROOT / "main.py"), "loss", "--checkpoint", str(ckpt), "--data",
                          str(data), "--batch-size", str(batch_size), "--device", "cpu", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return [json.loads(line) for line in res.stdout.splitlines()]


def _loss_in_process(ckpt: Path, data: Path, batch_size: int) -> list[dict]:
    ck = load_checkpoint(ckpt, torch.device("cpu"), torch.float32)
    rows = eval_losses(ck, load_training_set(ck, data).examples, batch_size, torch.device("cpu"), torch.float32)
    return [{"batch": i, **r} for i, r in enumerate(rows)]


@pytest.mark.parametrize("batch_size", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_loss_matches_reference(batch_size, tiny_checkpoint, tmp_path):
    """Batches of one in process; batches of two through the real command (a subprocess, as a user runs it)."""
    assert _fingerprint(tiny_checkpoint) == pytest.approx(REF["weights_fingerprint"], rel=1e-12)
    data = write_parity_dataset(tmp_path / "data")
    rows = (_loss_cli if batch_size == 2 else _loss_in_process)(tiny_checkpoint, data, batch_size)
    expected = [c for c in REF["cases"] if len(c["lines"]) == batch_size]
    assert [r["lines"] for r in rows] == [c["lines"] for c in expected]  # file order
    assert [r["batch"] for r in rows] == list(range(len(rows)))
    for got, ref in zip(rows, expected, strict=True):
        for key in ("loss", "llm_loss", "tts_loss"):
            assert got[key] == pytest.approx(ref[key], abs=TOL), (ref["lines"], key)
    # both dummy paths are present: batches with no units report a zero TTS loss
    assert any(r["tts_loss"] == 0.0 and r["n_tts_tokens"] == 0 for r in rows)
