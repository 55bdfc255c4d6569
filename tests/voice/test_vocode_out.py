"""`vocode` inputs and outputs (issue 31): the units file is bounded before it is read, --out is written whole or
not at all and never over an input, and audio with NaN from corrupt weights is refused instead of written."""

from __future__ import annotations

import argparse
import resource
import signal
import time

import numpy as np
import pytest
import soundfile as sf
import torch

from app.cli import run_cli
from app.commands import vocode
from core.voice.vocoder import Vocoder
from models.errors import CheckpointError
from testing.synthetic import synthetic_clip
from tests.voice.helpers import tiny_dir, units


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="t")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    vocode.register(parser.add_subparsers(dest="command"))
    return parser


def _vocode(capsys, units_path, out, decoder=None) -> tuple[int, str]:
    argv = ["vocode", "--decoder", str(decoder or tiny_dir()), "--units", str(units_path), "--out", str(out)]
    code = run_cli(argv, _parser())
    return code, capsys.readouterr().err.strip()


@pytest.fixture()
def units_file(tmp_path):
    path = tmp_path / "u.json"
    path.write_text("[5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]")
    return path


def _one_line(code: int, err: str) -> str:
    assert code == 2 and err.startswith("error: ") and "\n" not in err, (code, err)
    return err


def test_nan_decoder_weights_give_an_error_not_a_wav_of_minus_one():
    dec = Vocoder.load(tiny_dir())
    with torch.no_grad():
        for p in dec.flow.parameters():
            p.fill_(float("nan"))
    with pytest.raises(CheckpointError, match="non-finite audio"):
        dec.decode(units(20), torch.Generator().manual_seed(0))
    stream = dec.open_stream(generator=torch.Generator().manual_seed(0))
    with pytest.raises(CheckpointError, match="non-finite audio"):
        for u in units(40):
            stream.push([u])
        stream.flush()


def test_vocode_out_a_folder_or_a_missing_folder_is_one_line(tmp_path, units_file, capsys):
    assert "is a folder" in _one_line(*_vocode(capsys, units_file, tmp_path))
    assert "does not exist" in _one_line(*_vocode(capsys, units_file, tmp_path / "no" / "out.wav"))


def test_vocode_out_over_an_input_is_refused_and_the_input_kept(tmp_path, units_file, capsys):
    before = units_file.read_bytes()
    assert "--units" in _one_line(*_vocode(capsys, units_file, units_file))
    assert units_file.read_bytes() == before
    assert "--decoder" in _one_line(*_vocode(capsys, units_file, tiny_dir() / "flow.pt"))


def test_vocode_on_a_full_disk_keeps_the_previous_out(tmp_path, units_file, capsys):
    keep = tmp_path / "keep.wav"
    sf.write(str(keep), synthetic_clip(1.0), 16000)
    before = keep.read_bytes()
    tiny_dir()  # made before the limit
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, old_limit[1]))  # the new WAV is ~49 KB
    try:
        code, err = _vocode(capsys, units_file, keep)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert keep.read_bytes() == before
    assert code == 2 and "\n" not in err and ("ulimit -f" in err or "disk is full" in err), err
    assert not [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_vocode_replaces_an_existing_out_whole(tmp_path, units_file, capsys):
    keep = tmp_path / "keep.wav"
    sf.write(str(keep), synthetic_clip(1.0), 16000)
    code, _ = _vocode(capsys, units_file, keep)
    assert code == 0
    audio, rate = sf.read(str(keep))
    assert rate == 22050 and len(audio) == 96 * 256 and np.isfinite(audio).all()


@pytest.mark.parametrize(
    ("content", "says"),
    [("[" + "7" * 5000 + "]", "too long"), (b"\x80\x81garbage", "UTF-8"), ("[" * 50_000, "nested"),
     ("[]", "no units")],
    ids=["5000-digit-id", "binary", "deep", "empty-list"],
)
def test_bad_units_files_are_one_line(tmp_path, capsys, content, says):
    path = tmp_path / "u.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    assert says in _one_line(*_vocode(capsys, path, tmp_path / "o.wav"))


def test_units_from_dev_zero_are_refused_at_once(tmp_path, capsys):
    started = time.monotonic()
    err = _one_line(*_vocode(capsys, "/dev/zero", tmp_path / "o.wav"))
    assert "not a regular file" in err and time.monotonic() - started < 5
