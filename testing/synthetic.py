"""A synthetic speech-band clip for tests and benchmarks: a chirp plus a little noise at 16 kHz. The same
formula made the stored reference vectors (tests/reference), so it must not change."""

from __future__ import annotations

import numpy as np

from models.rates import SPEECH_RATE_HZ


def synthetic_clip(duration_s: float = 2.5, seed: int = 1234) -> np.ndarray:
    """[N] float32 at 16 kHz: 0.3 * chirp (150 Hz rising 60 Hz/s) + 0.02 * standard normal noise(seed)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * SPEECH_RATE_HZ)) / SPEECH_RATE_HZ
    return (0.3 * np.sin(2 * np.pi * (150 + 60 * t) * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)
