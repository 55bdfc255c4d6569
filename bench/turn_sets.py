"""espeak-ng turn sets for end-of-turn figures: complete sentences, sentences with a 500-1000 ms pause inside
(SSML <break>), and two sentences with a long gap. Each clip knows its words' timing at the pause, so a
benchmark can give the detector an oracle partial transcript (a perfect ASR) for the "with a transcript" rows.

    python bench/bench_turns.py   # the figures (docs/turn_taking.md)
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

RATE_HZ = 16000
SPEED_WPM = 150

COMPLETE = (
    "I went to the store and bought some milk.",
    "Could you tell me something about the weather?",
    "My favourite colour is probably green.",
    "I was thinking that we could go to the park tomorrow.",
    "The meeting is on Tuesday at three in the afternoon.",
    "Can you help me with my homework tonight?",
    "I would like to order a large pizza with mushrooms.",
    "Tell me a story about a dragon and a knight.",
)
# (first part, pause ms, rest): the pause sits where people hesitate, mid-clause
PAUSED = (
    ("I went to the store", 800, "and bought some milk."),
    ("Could you tell me", 700, "something about the weather?"),
    ("My favourite colour is", 900, "probably green."),
    ("I was thinking that we could", 600, "go to the park tomorrow."),
    ("The meeting is on Tuesday", 800, "at three in the afternoon."),
    ("Can you help me", 700, "with my homework tonight?"),
    ("I would like to order", 1000, "a large pizza with mushrooms."),
    ("Tell me a story about", 500, "a dragon and a knight."),
)
TWO_SENTENCES = ("I went to the store and bought some milk.", 2500, "What time is it?")


@dataclass(frozen=True)
class Clip:
    samples: np.ndarray  # [N] float32 16 kHz
    texts: tuple[str, ...]  # the words said before each pause, cumulative: texts[i] is all up to pause i
    pauses_s: tuple[tuple[float, float], ...]  # (start, end) file times of each inner pause


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(ssml: str) -> np.ndarray:
    """SSML (espeak-ng -m) -> [N] float32 at 16 kHz."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.wav"
        subprocess.run(["espeak-ng", "-m", "-s", str(SPEED_WPM), "-w", str(path), f"<speak>{ssml}</speak>"],
                       check=True, capture_output=True)
        x, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return soxr.resample(x[:, 0], rate, RATE_HZ).astype(np.float32)


def _pauses(x: np.ndarray, n: int) -> tuple[tuple[float, float], ...]:
    """(start, end) file times of the n longest runs of |x| < 1e-3 inside the clip."""
    loud = np.flatnonzero(np.abs(x) >= 1e-3)
    gaps = np.diff(loud)
    longest = np.sort(np.argsort(gaps)[-n:])
    return tuple(((loud[i] + 1) / RATE_HZ, loud[i + 1] / RATE_HZ) for i in longest)


def complete_clip(text: str) -> Clip:
    return Clip(speak(text), (text,), ())


def paused_clip(first: str, pause_ms: int, rest: str) -> Clip:
    x = speak(f"{first} <break time='{pause_ms}ms'/> {rest}")
    return Clip(x, (first, f"{first} {rest}"), _pauses(x, 1))


def oracle_transcript(clip: Clip):
    """text(at_s) -> the words said by then (a perfect, instant ASR)."""
    def text(at_s: float) -> str:
        return clip.texts[sum(end <= at_s for _, end in clip.pauses_s)]
    return text
