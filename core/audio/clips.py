"""User audio for the model: read any common file, mix to mono, resample to 16 kHz, validate, compute features."""

from __future__ import annotations

import io
import logging
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from transformers import WhisperFeatureExtractor

from core.files import atomic_file
from models.errors import AudioInputError
from models.rates import SPEECH_RATE_HZ as MODEL_RATE_HZ  # the Whisper feature extractor's rate

log = logging.getLogger(__name__)

WINDOW_SAMPLES = 30 * MODEL_RATE_HZ  # features are padded to whole 30 s windows, as the reference does
MIN_DURATION_MS = 100
MAX_DURATION_S = 600.0  # beyond this the prompt would not fit any sensible context; reject early
SILENCE_PEAK = 1e-4  # peak amplitude below which a clip is treated as silence
MAX_READ_SAMPLES = 2**27  # frames x channels one file may hold (512 MiB as float32): checked before reading
FORMATS_HINT = "use WAV, FLAC or OGG"


def to_mono(samples: np.ndarray) -> np.ndarray:
    """[N] or [N, C] -> [N] float32 by averaging channels."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    if samples.ndim != 1:
        raise AudioInputError(f"audio has shape {samples.shape}; expected [samples] or [samples, channels]")
    return samples


def resample(samples: np.ndarray, rate_hz: int, target_hz: int = MODEL_RATE_HZ) -> np.ndarray:
    if rate_hz == target_hz:
        return samples.astype(np.float32, copy=False)
    if rate_hz <= 0:
        raise AudioInputError(f"invalid sample rate {rate_hz} Hz")
    return soxr.resample(samples, rate_hz, target_hz, quality="HQ").astype(np.float32)


def validate_clip(samples: np.ndarray, max_duration_s: float = MAX_DURATION_S) -> np.ndarray:
    """Reject clips the model cannot use, with a message that says what to do. Returns the clip unchanged."""
    if samples.size == 0:
        raise AudioInputError("the audio is empty; record or choose a clip with speech in it")
    if not np.all(np.isfinite(samples)):
        raise AudioInputError("the audio contains NaN or infinite samples; the file is corrupt, re-export it")
    duration_s = samples.size / MODEL_RATE_HZ
    if duration_s * 1000 < MIN_DURATION_MS:
        raise AudioInputError(f"the audio is only {duration_s * 1000:.0f} ms long; speak for at least "
                              f"{MIN_DURATION_MS} ms")
    if duration_s > max_duration_s:
        raise AudioInputError(f"the audio is {duration_s:.0f} s long; the limit is {max_duration_s:.0f} s, "
                              "split it into shorter turns")
    if float(np.max(np.abs(samples))) < SILENCE_PEAK:
        raise AudioInputError("the audio is silent; check the microphone or choose a clip with speech")
    return samples


def probe_audio_file(path: str | Path, max_duration_s: float = MAX_DURATION_S):
    """Check an audio file from its header before anything is read: it must be a regular, non-empty file that
    soundfile can open, with samples, at most `max_duration_s` long and at most MAX_READ_SAMPLES in all.

    Returns soundfile's info; raises `AudioInputError` (one line saying what the path is) otherwise."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise AudioInputError(f"{path} not found") from None
    except OSError as err:
        raise AudioInputError(f"cannot read {path}: {err.strerror or err}") from None
    if stat.S_ISDIR(mode):
        raise AudioInputError(f"{path} is a folder, not an audio file; give a file ({FORMATS_HINT})")
    if not stat.S_ISREG(mode):
        raise AudioInputError(f"{path} is not a regular file (a device, pipe or socket); give an audio file "
                              f"({FORMATS_HINT})")
    if path.stat().st_size == 0:
        raise AudioInputError(f"{path} is an empty file (0 bytes); record or choose a clip with speech in it")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise AudioInputError(f"{path} is not a readable audio file ({reason}); {FORMATS_HINT}") from None
    if info.samplerate <= 0:
        raise AudioInputError(f"{path} has an invalid sample rate {info.samplerate} Hz; the file is corrupt")
    if info.frames <= 0:
        raise AudioInputError(f"{path} holds no audio samples (the file is empty); record or choose a clip with "
                              "speech in it")
    duration_s = info.frames / info.samplerate
    if duration_s > max_duration_s:
        raise AudioInputError(f"{path} is {duration_s:.0f} s long (from its header); the limit is "
                              f"{max_duration_s:.0f} s, split it into shorter clips")
    if info.frames * max(1, info.channels) > MAX_READ_SAMPLES:
        raise AudioInputError(f"{path} holds {info.channels} channels x {info.frames} frames, more than "
                              f"{MAX_READ_SAMPLES} samples; mix it down or split it")
    return info


def read_audio_samples(path: str | Path, max_duration_s: float = MAX_DURATION_S) -> tuple[np.ndarray, int]:
    """A checked audio file (`probe_audio_file`) -> ([N, C] float32, rate_hz); `AudioInputError` otherwise."""
    probe_audio_file(path, max_duration_s)
    try:
        data, rate_hz = sf.read(str(path), dtype="float32", always_2d=True)  # [N, C]
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise AudioInputError(f"{path} is not a readable audio file ({reason}); {FORMATS_HINT}") from None
    if data.shape[0] == 0:
        raise AudioInputError(f"{path} holds no audio samples (the file is empty); record or choose a clip with "
                              "speech in it")
    return data, int(rate_hz)


def load_audio_file(path: str | Path) -> np.ndarray:
    """Any WAV/FLAC/OGG (soundfile formats) -> validated mono float32 at 16 kHz."""
    data, rate_hz = read_audio_samples(path)
    return validate_clip(resample(to_mono(data), rate_hz))


def write_audio_atomic(path: str | Path, samples: np.ndarray, rate_hz: int) -> None:
    """Write a mono clip to `path` (format from its extension; WAV when soundfile does not know it) through a
    temporary sibling renamed into place, so an existing file is replaced whole or left as it was."""
    path = Path(path)
    ext = path.suffix.lstrip(".").upper()
    fmt = ext if ext in sf.available_formats() else "WAV"
    buffer = io.BytesIO()  # encoded in memory first: a write error must reach us, not stop inside libsndfile
    sf.write(buffer, samples, rate_hz, format=fmt)
    with atomic_file(path, "wb") as f:
        f.write(buffer.getbuffer())


@dataclass(frozen=True)
class ClipFeatures:
    """Whisper log-mel features of one clip, padded to whole 30 s windows."""

    features: np.ndarray  # [n_mels, T] float32, T a multiple of 3000
    valid_frames: int  # unpadded frames (samples // hop)


def clip_features(samples: np.ndarray, extractor: WhisperFeatureExtractor) -> ClipFeatures:
    """The reference's features: pad to ceil(n / 30 s) windows, log-mel with the max over the whole padded clip."""
    padded_len = -(-samples.size // WINDOW_SAMPLES) * WINDOW_SAMPLES
    out = extractor(
        samples, sampling_rate=MODEL_RATE_HZ, padding="max_length", max_length=padded_len, truncation=True,
        return_attention_mask=True, return_tensors="np",
    )
    features = out["input_features"][0].astype(np.float32)  # [n_mels, T]
    valid = int(out["attention_mask"][0].sum())
    return ClipFeatures(features=features, valid_frames=valid)
