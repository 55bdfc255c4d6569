"""`make-tiny-listeners` and `listen`, through a parser built from the listener command modules only."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import soundfile as sf

from app.cli import run_cli
from app.commands import listen, make_tiny_listeners
from models.listeners.tiny import EMOTION_LABELS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    listen.register(sub)
    make_tiny_listeners.register(sub)
    return parser


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "tiny"
    assert run_cli(["make-tiny-listeners", str(out)], _parser()) == 0
    return out


@pytest.fixture
def wav(tmp_path):
    path = tmp_path / "in.wav"
    t = np.arange(int(1.2 * 44_100)) / 44_100
    sf.write(path, (0.2 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), 44_100)  # resampled to 16 kHz
    return path


def test_make_tiny_listeners_writes_three_checkpoints(tiny_dir):
    for name in ("asr", "ser", "text_emotion"):
        assert (tiny_dir / name / "model.safetensors").is_file()
        assert (tiny_dir / name / "config.json").is_file()


def test_listen_prints_transcript_and_emotions(tiny_dir, wav, capsys):
    argv = ["listen", "--audio", str(wav), "--asr", str(tiny_dir / "asr"), "--ser", str(tiny_dir / "ser")]
    argv += ["--text-emotion", str(tiny_dir / "text_emotion"), "--text", "I am glad", "--offline"]
    assert run_cli(argv, _parser()) == 0
    out = capsys.readouterr().out.splitlines()
    assert "asr: on — ready" in out
    assert any(line.startswith("transcript: ") and len(line) > len("transcript: ") for line in out)
    for source in ("user", "assistant"):
        line = next(line for line in out if line.startswith(f"{source} emotion: "))
        assert line.split(": ")[1].split(" (")[0] in EMOTION_LABELS


def test_listen_reports_off_listeners(tiny_dir, wav, tmp_path, capsys):
    argv = ["listen", "--audio", str(wav), "--asr", str(tmp_path / "nothing"), "--ser", str(tiny_dir / "asr")]
    assert run_cli(argv + ["--offline"], _parser()) == 1  # nothing usable
    out = capsys.readouterr().out
    assert f"asr: off — checkpoint not found: {tmp_path / 'nothing'}" in out
    assert "user_emotion: off — " in out
    assert "assistant_emotion: off — disabled in config" in out


def test_listen_unreadable_audio_is_a_user_error(tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF nonsense")
    assert run_cli(["listen", "--audio", str(bad), "--offline"], _parser()) == 2
    assert "not a readable audio file" in capsys.readouterr().err
