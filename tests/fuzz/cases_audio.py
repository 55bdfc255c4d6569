"""Audio files given to the commands that read them (`units`, `turns`, `listen`): each bad one is refused in one
line that says what the path is, from its header, before it is read; a usable one gives units."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from testing.fuzz import OK, Case, Outcome
from testing.synthetic import synthetic_clip

AREA = "audio file"
FAST_S = 20.0  # cases that used to hang or allocate gigabytes
RATE_HZ = 16_000


def _wav_header(n_data_bytes: int, rate_hz: int = RATE_HZ, channels: int = 1, bits: int = 16) -> bytes:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate_hz, rate_hz * block, block, bits)
    riff_size = min(0xFFFFFFFF, 4 + 8 + len(fmt) + 8 + n_data_bytes)
    return (b"RIFF" + struct.pack("<I", riff_size) + b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
            + b"data" + struct.pack("<I", min(0xFFFFFFFF, n_data_bytes)))


def _clip_wav(kit, name: str = "in.wav", seconds: float = 2.0, **kw) -> Path:
    path = kit.folder / name
    sf.write(str(path), synthetic_clip(seconds), RATE_HZ, **kw)
    return path


def _units(audio) -> callable:
    """`units --tokenizer TINY --audio <audio(kit)>`."""
    return lambda kit: ["units", "--tokenizer", str(kit.speech_tokenizer()), "--audio", str(audio(kit)),
                        "--device", "cpu"]


def _turns(audio) -> callable:
    return lambda kit: ["turns", "--no-semantic", "--audio", str(audio(kit))]


def _listen(audio) -> callable:
    return lambda kit: ["listen", "--offline", "--audio", str(audio(kit))]


def _has_units(folder: Path, outcome: Outcome) -> str | None:
    words = outcome.stdout.split()
    return None if words and all(w.isdigit() for w in words) else f"no units printed: {outcome.stdout[:200]!r}"


def _fifo(kit) -> Path:
    path = kit.folder / "audio.wav"
    os.mkfifo(path)
    return path


def _empty_file(kit) -> Path:
    return kit.write("empty.wav", b"")


def _zero_samples(kit) -> Path:
    path = kit.folder / "zero.wav"
    sf.write(str(path), np.zeros((0, 1), np.float32), RATE_HZ)
    return path


def _header_only(kit) -> Path:
    return kit.write("header.wav", _wav_header(0))


def _truncated(kit) -> Path:
    """A WAV whose header promises 2 s but whose data stops after 1 s (a copy cut short)."""
    data = (synthetic_clip(1.0) * 32767).astype("<i2").tobytes()
    return kit.write("cut.wav", _wav_header(2 * len(data)) + data)


def _lying_header(kit) -> Path:
    """A header that claims 4 GB of samples in a 64 KB file."""
    data = (synthetic_clip(2.0) * 32767).astype("<i2").tobytes()
    return kit.write("liar.wav", _wav_header(0xFFFFFFF0) + data)


def _sparse_4gb(kit) -> Path:
    """A real 4 GB file (sparse: no disk used) with a valid header: 37 hours of 16 kHz int16."""
    path = kit.write("huge.wav", _wav_header(0xFFFFFFF0 - 64))
    with open(path, "r+b") as f:
        f.truncate(0xFFFFFFF0)
    return path


def _too_long(kit) -> Path:
    path = kit.folder / "long.wav"
    sf.write(str(path), np.full(8000 * 601, 0.1, np.float32), 8000, subtype="PCM_16")
    return path


def _one_hz(kit) -> Path:
    """8000 samples at 1 Hz: 8000 s by the header."""
    data = (synthetic_clip(0.5) * 32767).astype("<i2").tobytes()
    return kit.write("slow.wav", _wav_header(len(data), rate_hz=1) + data)


def _nan_samples(kit) -> Path:
    path = kit.folder / "nan.wav"
    clip = synthetic_clip(2.0)
    clip[100:200] = np.nan
    sf.write(str(path), clip, RATE_HZ, subtype="FLOAT")
    return path


def _silent(kit) -> Path:
    path = kit.folder / "silent.wav"
    sf.write(str(path), np.zeros(RATE_HZ * 2, np.float32), RATE_HZ)
    return path


def _wrong_extension(kit) -> Path:
    return _clip_wav(kit, "speech.mp3", format="WAV")


def _mp3_garbage(kit) -> Path:
    rng = np.random.default_rng(0)
    return kit.write("song.mp3", b"ID3\x03\x00\x00\x00\x00\x00\x00" + rng.bytes(20_000))


def _text(kit) -> Path:
    return kit.write("notes.wav", "not audio at all\n")


def _symlink_to_dev_zero(kit) -> Path:
    path = kit.folder / "link.wav"
    path.symlink_to("/dev/zero")
    return path


CASES = [
    Case(AREA, "a folder", _units(lambda kit: kit.folder), says=("folder",)),
    Case(AREA, "/dev/zero", _units(lambda kit: "/dev/zero"), says=("/dev/zero", "regular file"), timeout_s=FAST_S),
    Case(AREA, "a symlink to /dev/zero", _units(_symlink_to_dev_zero), says=("link.wav", "regular file"),
         timeout_s=FAST_S),
    Case(AREA, "a FIFO", _units(_fifo), says=("regular file",), timeout_s=FAST_S),
    Case(AREA, "missing", _units(lambda kit: kit.folder / "nope.wav"), says=("nope.wav", "not found")),
    Case(AREA, "empty file (0 bytes)", _units(_empty_file), says=("empty",)),
    Case(AREA, "a WAV with 0 samples", _units(_zero_samples), says=("zero.wav", "empty")),
    Case(AREA, "a WAV header alone", _units(_header_only), says=("header.wav",)),
    Case(AREA, "truncated WAV (header says 2 s, data 1 s)", _units(_truncated), expect=OK, check=_has_units),
    Case(AREA, "header claims 4 GB in a 64 KB file", _units(_lying_header), expect=OK, check=_has_units),
    Case(AREA, "4 GB sparse WAV", _units(_sparse_4gb), says=("huge.wav", "limit"), timeout_s=FAST_S),
    Case(AREA, "601 s long", _units(_too_long), says=("long.wav", "limit")),
    Case(AREA, "sample rate 1 Hz", _units(_one_hz), says=("slow.wav", "limit")),
    Case(AREA, "NaN samples", _units(_nan_samples), says=("NaN",)),
    Case(AREA, "silence", _units(_silent), says=("silent",)),
    Case(AREA, "a WAV named .mp3", _units(_wrong_extension), expect=OK, check=_has_units),
    Case(AREA, "mp3 garbage", _units(_mp3_garbage), says=("song.mp3", "not a readable audio file")),
    Case(AREA, "text named .wav", _units(_text), says=("notes.wav", "not a readable audio file")),
    Case(AREA, "a usable FLAC", _units(lambda kit: _clip_wav(kit, "in.flac")), expect=OK, check=_has_units),
    Case(AREA, "turns: a folder", _turns(lambda kit: kit.folder), says=("folder",)),
    Case(AREA, "turns: /dev/zero", _turns(lambda kit: "/dev/zero"), says=("regular file",), timeout_s=FAST_S),
    Case(AREA, "turns: 4 GB sparse WAV", _turns(_sparse_4gb), says=("limit",), timeout_s=FAST_S),
    Case(AREA, "listen: a folder", _listen(lambda kit: kit.folder), says=("folder",)),
    Case(AREA, "listen: /dev/zero", _listen(lambda kit: "/dev/zero"), says=("regular file",), timeout_s=FAST_S),
    Case(AREA, "listen: 4 GB sparse WAV", _listen(_sparse_4gb), says=("limit",), timeout_s=FAST_S),
    Case(AREA, "listen: a WAV with 0 samples", _listen(_zero_samples), says=("empty",)),
]
