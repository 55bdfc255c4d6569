"""Tiny training datasets in the OpenS2S jsonl format (audio clips written next to the file)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.helpers import RATE_HZ, synthetic_clip

REPLIES = ["I am here for you.", "That sounds lovely!", "Tell me more about the cat.", "Of course, thank you."]


def unit_string(units) -> str:
    return "".join(f"<|audio_{u}|>" for u in units)


def example_row(i: int, audio: str | None, n_units: int = 10, text_only: bool = False) -> dict:
    rng = np.random.default_rng(100 + i)
    user = [{"text": "", "audio": audio, "speech_units": "", "spk_emb": ""}] if audio else [
        {"text": "Hello! How are you today?", "audio": "", "speech_units": "", "spk_emb": ""}]
    reply = REPLIES[i % len(REPLIES)]
    item = {"text": reply, "audio": "", "speech_units": "" if text_only else unit_string(
        rng.integers(0, 64, n_units + i % 3)), "spk_emb": ""}
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": [item]}]}


def write_dataset(folder: Path, n: int = 4, audio_every: int = 2, name: str = "train.jsonl",
                  durations_s=(1.2, 0.9, 1.6)) -> Path:
    """`n` examples; every `audio_every`-th one has a user clip (relative path), the others a text turn."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "clips").mkdir(exist_ok=True)
    rows = []
    for i in range(n):
        audio = None
        if audio_every and i % audio_every == 0:
            audio = f"clips/c{i}.wav"
            sf.write(folder / audio, synthetic_clip(durations_s[i % len(durations_s)], seed=i), RATE_HZ)
        rows.append(example_row(i, audio))
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
