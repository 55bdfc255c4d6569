"""Speech from espeak-ng (a system program, see .ci/install): real, repeatable utterances for tests, benchmarks
and the screenshot script, without recordings in the repository."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

log = logging.getLogger(__name__)

ESPEAK = "espeak-ng"
WORDS_PER_MINUTE = 150


def espeak_available() -> bool:
    return shutil.which(ESPEAK) is not None


def espeak(text: str, out_dir: Path, name: str = "utt") -> tuple[np.ndarray, int]:
    """Synthesize `text` -> ([N] float32 mono, rate_hz); also leaves out_dir/name.wav."""
    path = Path(out_dir) / f"{name}.wav"
    subprocess.run([ESPEAK, "-s", str(WORDS_PER_MINUTE), "-w", str(path), text], check=True, capture_output=True)
    x, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return x[:, 0].copy(), int(rate)
