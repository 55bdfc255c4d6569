"""User audio for the model: read any common file, mix to mono, resample to 16 kHz, validate, compute features."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from transformers import WhisperFeatureExtractor

from models.errors import AudioInputError
from models.rates import SPEECH_RATE_HZ as MODEL_RATE_HZ  # the Whisper feature extractor's rate

log = logging.getLogger(__name__)

WINDOW_SAMPLES = 30 * MODEL_RATE_HZ  # features are padded to whole 30 s windows, as the reference does
MIN_DURATION_MS = 100
MAX_DURATION_S = 600.0  # beyond this the prompt would not fit any sensible context; reject early
SILENCE_PEAK = 1e-4  # peak amplitude below which a clip is treated as silence


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


def load_audio_file(path: str | Path) -> np.ndarray:
    """Any WAV/FLAC/OGG (soundfile formats) -> validated mono float32 at 16 kHz."""
    path = Path(path)
    if not path.is_file():
        raise AudioInputError(f"{path} not found")
    try:
        data, rate_hz = sf.read(str(path), dtype="float32", always_2d=True)  # [N, C]
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise AudioInputError(f"{path} is not a readable audio file ({err}); use WAV, FLAC or OGG") from None
    return validate_clip(resample(to_mono(data), rate_hz))


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
