"""Shared test helpers (not fixtures)."""

from __future__ import annotations

import numpy as np

RATE_HZ = 16000


def synthetic_clip(duration_s: float = 2.5, seed: int = 1234) -> np.ndarray:
    """A chirp plus a little noise at 16 kHz; the same formula made the stored reference vectors."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * RATE_HZ)) / RATE_HZ
    return (0.3 * np.sin(2 * np.pi * (150 + 60 * t) * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)
