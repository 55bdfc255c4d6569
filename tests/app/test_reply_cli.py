"""The headless `reply` command, run as a user would run it (a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.helpers import synthetic_clip

ROOT = Path(__file__).resolve().parents[2]


def _run(*args, cwd=None):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_reply_audio_json_events_and_logits(tiny_checkpoint, tmp_path):
    wav = tmp_path / "in.wav"
    clip = synthetic_clip(1.5)
    sf.write(str(wav), np.stack([clip, clip], 1), 16000)  # stereo on purpose
    dump = tmp_path / "logits.npz"
    res = _run("reply", "--checkpoint", tiny_checkpoint, "--audio", wav, "--greedy", "--json-events",
               "--max-text-tokens", 6, "--max-units", 12, "--dump-logits", dump)
    assert res.returncode == 0, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "end" and kinds.count("text") >= 1 and kinds.count("units") >= 1
    assert all(e["t_s"] >= 0 for e in events) and all("token_ids" in e for e in events[:-1])
    times = [e["t_s"] for e in events]
    assert times == sorted(times)
    n_text = sum(len(e["token_ids"]) for e in events if e["type"] == "text")
    n_tts = sum(len(e["token_ids"]) for e in events if e["type"] == "units")
    logits = np.load(dump)
    assert logits["llm_logits"].shape[0] == n_text and logits["tts_logits"].shape[0] == n_tts


def test_reply_text_streams_and_writes_units(tiny_checkpoint, tmp_path):
    res = _run("reply", "--checkpoint", tiny_checkpoint, "--text", "Hello there", "--seed", 1,
               "--max-text-tokens", 5, "--max-units", 10, "--units-out", tmp_path / "u.json")
    assert res.returncode == 0, res.stderr
    units = json.loads((tmp_path / "u.json").read_text())["units"]
    assert 0 < len(units) <= 10 and all(0 <= u < 16384 for u in units)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--checkpoint", "/nonexistent/ckpt", "--text", "hi"], "does not exist"),
        (["--audio", "{missing}"], "not found"),
        (["--audio", "{silent}"], "silent"),
        (["--text", "hi", "--top-p", "0"], "top_p"),
        (["--text", "hi", "--device", "cuda:7"], "CUDA is not available"),
    ],
    ids=["no-checkpoint", "missing-audio", "silent-audio", "bad-option", "no-cuda"],
)
def test_errors_are_one_line_without_traceback(tiny_checkpoint, tmp_path, args, message):
    silent = tmp_path / "silent.wav"
    sf.write(str(silent), np.zeros(16000, np.float32), 16000)
    args = [a.format(missing=tmp_path / "missing.wav", silent=silent) for a in args]
    if "--checkpoint" not in args:
        args = ["--checkpoint", str(tiny_checkpoint), *args]
    res = _run("reply", *args)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], res.stderr


def test_make_tiny_checkpoint_command(tmp_path):
    res = _run("make-tiny-checkpoint", tmp_path / "t", "--interleave", "3:1", "--shards", 1)
    assert res.returncode == 0 and "gibberish" in res.stdout
    cfg = json.loads((tmp_path / "t" / "config.json").read_text())
    assert cfg["interleave_strategy"] == "3:1" and (tmp_path / "t" / "model.safetensors").exists()


def test_reply_whole_chain_writes_audio(tiny_checkpoint, tiny_decoder, tmp_path):
    out = tmp_path / "reply.wav"
    res = _run("reply", "--checkpoint", tiny_checkpoint, "--decoder", tiny_decoder, "--out", out, "--text", "Hi",
               "--greedy", "--max-text-tokens", 8, "--max-units", 30, "--units-out", tmp_path / "u.json")
    assert res.returncode == 0, res.stderr
    units = json.loads((tmp_path / "u.json").read_text())["units"]
    audio, rate = sf.read(str(out))
    assert rate == 22050 and len(units) > 0
    # 12.5 units/s at 22050 Hz: 1764 samples per unit, within one mel frame per chunk
    assert abs(audio.size - len(units) * 1764) < 3 * 1764
    assert np.abs(audio).max() > 0
