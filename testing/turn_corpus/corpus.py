"""Reading a turn corpus: `load_corpus()` -> [CorpusClip] (the corpus is built first when missing)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from testing.turn_corpus.build import build_corpus, default_folder


@dataclass(frozen=True)
class CorpusClip:
    """One manifest row (field names as in manifest.jsonl) and the folder it lives in."""
    folder: Path
    id: str
    split: str  # "train" | "heldout"
    synth: str  # "espeak-ng" | "flite"
    voice: str
    rate_wpm: int | None
    pitch: int | None  # espeak-ng -p (0-99); flite int_f0_target_mean (Hz); None for flite rms
    flite_stretch: float | None
    kind: str  # "complete" | "paused"
    sentence_kind: str
    text: str
    parts: tuple[str, ...]
    file: str
    duration_s: float
    speech_start_s: float
    speech_end_s: float
    pauses_s: tuple[tuple[float, float], ...]
    noise: dict | None  # {"kind": "white"|"pink"|"brown"|"hum", "snr_db": float}

    @classmethod
    def from_row(cls, folder: Path, row: dict) -> CorpusClip:
        fields = dict(row)
        fields["parts"] = tuple(row["parts"])
        fields["pauses_s"] = tuple(tuple(p) for p in row["pauses_s"])
        return cls(folder=Path(folder), **fields)

    @property
    def path(self) -> Path:
        return self.folder / self.file

    def samples(self) -> np.ndarray:
        """[N] float32 16 kHz mono."""
        x, rate = sf.read(str(self.path), dtype="float32")
        if rate != 16000 or x.ndim != 1:
            raise ValueError(f"{self.path}: expected 16 kHz mono, found {rate} Hz, shape {x.shape}")
        return x


def read_manifest(folder: Path) -> list[CorpusClip]:
    lines = (Path(folder) / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    return [CorpusClip.from_row(folder, json.loads(line)) for line in lines if line.strip()]


def load_corpus(folder: Path | None = None, small: bool = False) -> list[CorpusClip]:
    """The corpus's clips in manifest order; builds it first (minutes for the default sizes) when `folder` (default:
    the cache folder for these settings) has no manifest yet."""
    folder = Path(folder) if folder is not None else default_folder(small)
    if not (folder / "manifest.jsonl").is_file():
        build_corpus(folder, small=small)
    return read_manifest(folder)
