"""Audio for the speech tokenizer: first channel, 16 kHz, validated (empty, NaN, silent, too long -> one line)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from core.audio.clips import MODEL_RATE_HZ, SILENCE_PEAK, read_audio_samples, resample
from models.errors import AudioInputError

log = logging.getLogger(__name__)

MAX_DURATION_S = 600.0


def first_channel(samples: np.ndarray) -> np.ndarray:
    """[N] or [N, C] (soundfile's layout) -> [N] float32; the reference keeps channel 0, it does not mix."""
    x = np.asarray(samples)
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max)
    x = x.astype(np.float32, copy=False)
    if x.ndim == 2 and x.shape[0] == 0:
        return x[:, 0] if x.shape[1] else np.zeros(0, np.float32)  # no samples: "empty", said by the caller
    if x.ndim == 2:
        if x.shape[1] > x.shape[0]:
            raise AudioInputError(f"audio has shape {x.shape}, more channels than samples; pass [samples, channels]")
        x = x[:, 0]
    if x.ndim != 1:
        raise AudioInputError(f"audio has shape {x.shape}; expected [samples] or [samples, channels]")
    return x


def prepare_audio(
    samples: np.ndarray, sample_rate_hz: int, max_duration_s: float = MAX_DURATION_S, name: str = "the audio"
) -> np.ndarray:
    """Any rate, [N] or [N, C] -> validated [N] float32 at 16 kHz; `AudioInputError` (one line) otherwise."""
    x = first_channel(samples)
    if x.size == 0:
        raise AudioInputError(f"{name} is empty; give a clip with speech in it")
    if sample_rate_hz <= 0:
        raise AudioInputError(f"{name} has an invalid sample rate {sample_rate_hz} Hz")
    duration_s = x.size / sample_rate_hz
    if duration_s > max_duration_s:
        raise AudioInputError(f"{name} is {duration_s:.0f} s long; the limit is {max_duration_s:.0f} s, "
                              "split it into shorter utterances")
    if not np.all(np.isfinite(x)):
        raise AudioInputError(f"{name} contains NaN or infinite samples; the file is corrupt, re-export it")
    if float(np.max(np.abs(x))) < SILENCE_PEAK:
        raise AudioInputError(f"{name} is silent (peak below {SILENCE_PEAK:g}); check the recording")
    return resample(x, sample_rate_hz, MODEL_RATE_HZ)


def read_audio_file(path: str | Path, max_duration_s: float = MAX_DURATION_S) -> tuple[np.ndarray, int]:
    """A WAV/FLAC/OGG file -> ([N, C] float32, rate_hz); `AudioInputError` (one line saying what the path is) for a
    missing path, a folder, a device, an empty or non-audio file, or one too long by its header (not read then)."""
    return read_audio_samples(path, max_duration_s)
