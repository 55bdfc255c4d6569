"""`units` over files that are not usable speech (issue 31): each is named for what it is, in one line, and the
round trip's --out never lands on an input."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from app.cli import build_parser, run_cli
from core.speech_tokenizer import prepare_audio
from models.errors import AudioInputError
from tests.helpers import synthetic_clip


def _units(capsys, *args) -> tuple[int, str]:
    code = run_cli(["units", *map(str, args)], build_parser())
    return code, capsys.readouterr().err.strip()


def _one_line(code: int, err: str) -> str:
    assert code == 2 and err.startswith("error: ") and "\n" not in err, (code, err)
    return err


def test_zero_samples_are_called_empty_not_more_channels_than_samples(tiny_speech_tokenizer, tmp_path, capsys):
    wav = tmp_path / "zero.wav"
    sf.write(str(wav), np.zeros((0, 2), np.float32), 16000)
    err = _one_line(*_units(capsys, "--tokenizer", tiny_speech_tokenizer, "--audio", wav))
    assert "zero.wav holds no audio samples" in err and "channels" not in err
    with pytest.raises(AudioInputError, match="empty"):
        prepare_audio(np.zeros((0, 2), np.float32), 16000)


def test_a_folder_or_dev_zero_as_audio_is_named_for_what_it_is(tiny_speech_tokenizer, tmp_path, capsys):
    assert "is a folder" in _one_line(*_units(capsys, "--tokenizer", tiny_speech_tokenizer, "--audio", tmp_path))
    err = _one_line(*_units(capsys, "--tokenizer", tiny_speech_tokenizer, "--audio", "/dev/zero"))
    assert "not a regular file" in err


def test_round_trip_out_over_the_audio_is_refused_and_the_audio_kept(tiny_speech_tokenizer, tiny_decoder, tmp_path,
                                                                     capsys):
    wav = tmp_path / "in.wav"
    sf.write(str(wav), synthetic_clip(1.0), 16000)
    before = wav.read_bytes()
    err = _one_line(*_units(capsys, "--tokenizer", tiny_speech_tokenizer, "--audio", wav, "--decoder", tiny_decoder,
                            "--out", wav))
    assert "--audio" in err and wav.read_bytes() == before
