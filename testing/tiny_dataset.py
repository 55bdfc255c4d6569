"""Small seeded datasets in the OpenS2S jsonl layout (chirp clips, random units) for tests, benchmarks and the
parity script. They exercise every item kind: user audio or text, assistant speech (units) or plain text, speaker
embeddings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

RATE_HZ = 16000
REPLIES = ("I am here for you.", "That sounds lovely!", "Tell me more about the cat.", "Of course, thank you.")
USER_TEXT = "Hello! How are you today?"


def chirp(duration_s: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * RATE_HZ)) / RATE_HZ
    return (0.3 * np.sin(2 * np.pi * (150 + 60 * t) * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def unit_string(units) -> str:
    return "".join(f"<|audio_{int(u)}|>" for u in units)


@dataclass(frozen=True)
class RowSpec:
    """One example: a user clip of `audio_s` seconds (0 = a text turn) and a spoken or a plain-text reply."""

    audio_s: float = 0.0
    speech: bool = True
    speaker: bool = False
    n_units: int = 10
    unit_range: int = 64  # units drawn from 0..unit_range-1 (a small range is learnable in a few steps)


def example_row(i: int, spec: RowSpec, folder: Path) -> dict:
    rng = np.random.default_rng(100 + i)
    item = lambda **kw: {"text": "", "audio": "", "speech_units": "", "spk_emb": "", **kw}  # noqa: E731
    if spec.audio_s:
        rel = f"clips/c{i}.wav"
        (folder / "clips").mkdir(parents=True, exist_ok=True)
        sf.write(folder / rel, chirp(spec.audio_s, seed=i), RATE_HZ)
        user = [item(audio=rel)]
    else:
        user = [item(text=USER_TEXT)]
    reply = item(text=REPLIES[i % len(REPLIES)])
    if spec.speech:
        reply["speech_units"] = unit_string(rng.integers(0, spec.unit_range, spec.n_units + i % 3))
        if spec.speaker:
            rel = f"clips/spk{i}.npy"
            (folder / "clips").mkdir(parents=True, exist_ok=True)
            np.save(folder / rel, rng.standard_normal((1, 1, 512)).astype(np.float32))
            reply["spk_emb"] = rel
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": [reply]}]}


def write_rows(folder: Path, specs: list[RowSpec], name: str = "train.jsonl") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [example_row(i, s, folder) for i, s in enumerate(specs)]
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_dataset(folder: Path, n: int = 4, audio_every: int = 2, name: str = "train.jsonl",
                  durations_s=(1.2, 0.9, 1.6), n_units: int = 10) -> Path:
    """`n` spoken examples; every `audio_every`-th has a user clip (relative path), the others a text turn."""
    specs = [RowSpec(audio_s=durations_s[i % len(durations_s)] if audio_every and i % audio_every == 0 else 0.0,
                     n_units=n_units) for i in range(n)]
    return write_rows(folder, specs, name)


# The parity set: batches of two cover a clip + a text turn, two clips of different lengths (one reply unspoken),
# and no audio and no units at all (both of the reference's dummy passes).
PARITY_ROWS = (
    RowSpec(audio_s=1.2),
    RowSpec(),
    RowSpec(audio_s=1.6, speaker=True),
    RowSpec(audio_s=0.9, speech=False),
    RowSpec(speech=False),
    RowSpec(speech=False),
)


def write_parity_dataset(folder: Path) -> Path:
    return write_rows(folder, list(PARITY_ROWS), "parity.jsonl")
