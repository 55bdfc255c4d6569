"""Audio files are checked from their header before they are read (issue 31): a folder, a device, an empty file
or one far too long is named for what it is, in one line, without reading (or allocating for) its samples."""

from __future__ import annotations

import resource
import struct
import time

import numpy as np
import pytest
import soundfile as sf

from app.commands.listen import read_audio_16k
from core.audio.clips import load_audio_file, probe_audio_file, write_audio_atomic
from models.errors import AudioInputError
from testing.synthetic import synthetic_clip


def _wav_header(n_data_bytes: int, rate_hz: int = 16_000) -> bytes:
    fmt = struct.pack("<HHIIHH", 1, 1, rate_hz, rate_hz * 2, 2, 16)
    return (b"RIFF" + struct.pack("<I", min(0xFFFFFFFF, 36 + n_data_bytes)) + b"WAVE" + b"fmt "
            + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", n_data_bytes))


@pytest.fixture()
def sparse_4gb_wav(tmp_path):
    """A real 4 GB file with a valid header (sparse: it takes no disk): 37 hours at 16 kHz."""
    path = tmp_path / "huge.wav"
    path.write_bytes(_wav_header(0xFFFFFFF0 - 44))
    with open(path, "r+b") as f:
        f.truncate(0xFFFFFFF0)
    return path


READERS = {"load_audio_file": load_audio_file, "listen": read_audio_16k}


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
def test_a_folder_is_called_a_folder_not_missing(tmp_path, reader):
    with pytest.raises(AudioInputError, match="is a folder"):
        reader(tmp_path)


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
def test_dev_zero_is_called_a_device_at_once(reader):
    started = time.monotonic()
    with pytest.raises(AudioInputError, match="not a regular file"):
        reader("/dev/zero")
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
def test_zero_samples_and_zero_bytes_are_called_empty(tmp_path, reader):
    wav = tmp_path / "zero.wav"
    sf.write(str(wav), np.zeros((0, 1), np.float32), 16000)
    with pytest.raises(AudioInputError, match="no audio samples"):
        reader(wav)
    (tmp_path / "none.wav").write_bytes(b"")
    with pytest.raises(AudioInputError, match="empty file"):
        reader(tmp_path / "none.wav")


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
def test_a_4gb_sparse_wav_is_refused_from_its_header_without_reading(sparse_4gb_wav, reader):
    """Under a 1 GiB address-space cap the old whole-file read (8 GiB of float32) fails; the header check does
    not allocate at all."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    usage = _address_space_bytes()
    resource.setrlimit(resource.RLIMIT_AS, (usage + 2**30, hard))
    try:
        with pytest.raises(AudioInputError, match=r"long \(from its header\); the limit is 600 s"):
            reader(sparse_4gb_wav)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _address_space_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * resource.getpagesize()


def test_probe_passes_a_usable_file_and_names_the_path(tmp_path):
    wav = tmp_path / "ok.wav"
    sf.write(str(wav), synthetic_clip(1.0), 16000)
    assert probe_audio_file(wav).frames == 16000
    with pytest.raises(AudioInputError, match="nope.wav not found"):
        probe_audio_file(tmp_path / "nope.wav")


def test_listen_refuses_nan_samples(tmp_path):
    wav = tmp_path / "nan.wav"
    clip = synthetic_clip(1.0)
    clip[10] = np.nan
    sf.write(str(wav), clip, 16000, subtype="FLOAT")
    with pytest.raises(AudioInputError, match="NaN"):
        read_audio_16k(str(wav))


def test_write_audio_atomic_replaces_whole_and_leaves_no_temporary(tmp_path):
    out = tmp_path / "out.flac"
    out.write_bytes(b"old")
    write_audio_atomic(out, synthetic_clip(0.5), 16000)
    assert sf.info(str(out)).format == "FLAC" and sf.info(str(out)).frames == 8000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.flac"]
