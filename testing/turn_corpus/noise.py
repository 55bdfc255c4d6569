"""Background noise for the corpus: white, pink, brown or a mains hum, scaled to an SNR against the clean speech.
The noise covers the whole clip (before, during and after the speech, through the pauses), as a room's does."""

from __future__ import annotations

import numpy as np

RATE_HZ = 16000
KINDS = ("white", "pink", "brown", "hum")
KNEE_HZ = 40.0
HIGH_PASS_HZ = 20.0


def _coloured(n: int, rng: np.random.Generator, exponent: float) -> np.ndarray:
    """White noise shaped to a power spectrum ~ 1/f**exponent (pink 1, brown 2) above KNEE_HZ, flat below it and
    nothing under HIGH_PASS_HZ (as a microphone's input would pass it) -> [n] unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / RATE_HZ)
    gain = 1 / np.maximum(f, KNEE_HZ) ** (exponent / 2)
    gain[f < HIGH_PASS_HZ] = 0.0
    x = np.fft.irfft(spectrum * gain, n)
    return x / np.sqrt(np.mean(x ** 2))


def _hum(n: int, rng: np.random.Generator) -> np.ndarray:
    """Mains hum (50 or 60 Hz and 3 harmonics, random phases) with a little hiss -> [n] unit RMS."""
    mains = float(rng.choice([50.0, 60.0]))
    t = np.arange(n) / RATE_HZ
    x = sum(a * np.sin(2 * np.pi * mains * h * t + rng.uniform(0, 2 * np.pi))
            for h, a in zip((1, 2, 3, 4), (1.0, 0.5, 0.3, 0.2), strict=True))
    x = x + 0.05 * rng.standard_normal(n)
    return x / np.sqrt(np.mean(x ** 2))


def noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """[n] float64 unit-RMS noise of `kind` (one of KINDS)."""
    if kind == "white":
        return rng.standard_normal(n)
    if kind == "pink":
        return _coloured(n, rng, 1.0)
    if kind == "brown":
        return _coloured(n, rng, 2.0)
    if kind == "hum":
        return _hum(n, rng)
    raise ValueError(f"unknown noise kind {kind!r}; one of {', '.join(KINDS)}")


def add_noise(clean: np.ndarray, speech_rms: float, kind: str, snr_db: float, seed: int) -> np.ndarray:
    """clean [N] float32 16 kHz + noise at `snr_db` below `speech_rms` over the whole clip -> [N] float32 in [-1, 1]."""
    rng = np.random.default_rng(seed)
    scaled = noise(kind, clean.size, rng) * (speech_rms / 10 ** (snr_db / 20))
    return np.clip(clean + scaled, -1.0, 1.0).astype(np.float32)
