"""Seed lists (situations × emotions × personas, plus the style and reply-emotion label sets) and the
deterministic draw of one seed per record index."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

from core.data.config_io import ConfigError, read_mapping

DEFAULT_SEEDS_FILE = Path(__file__).resolve().parents[2] / "assets" / "data" / "seeds.yaml"
SEED_KEYS = ("situations", "emotions", "personas", "styles", "reply_emotions")


@dataclass(frozen=True)
class SeedLists:
    situations: tuple[str, ...]
    emotions: tuple[str, ...]
    personas: tuple[str, ...]
    styles: tuple[str, ...]
    reply_emotions: tuple[str, ...]

    @property
    def n_combinations(self) -> int:
        return len(self.situations) * len(self.emotions) * len(self.personas)


@dataclass(frozen=True)
class Seed:
    """What one record is asked to be about; `index` names the record and fixes all its random draws."""

    index: int
    situation: str
    emotion: str
    persona: str
    user_voice: str
    rng_seed: int  # seeds this record's LLM sampling and nothing else

    @property
    def record_id(self) -> str:
        return f"{self.index:06d}"


def load_seed_lists(path: str | Path | None) -> SeedLists:
    path = Path(path) if path else DEFAULT_SEEDS_FILE
    data = read_mapping(path)
    missing = [k for k in SEED_KEYS if k not in data]
    if missing:
        raise ConfigError(f"{path}: missing key '{missing[0]}' (a seeds file has {', '.join(SEED_KEYS)})")
    unknown = sorted(set(data) - set(SEED_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown key '{unknown[0]}' (a seeds file has {', '.join(SEED_KEYS)})")
    lists = {}
    for key in SEED_KEYS:
        items = data[key]
        if not isinstance(items, list) or not items:
            raise ConfigError(f"{path}: '{key}' must be a non-empty list")
        bad = next((i for i, v in enumerate(items) if not isinstance(v, str) or not v.strip()), None)
        if bad is not None:
            raise ConfigError(f"{path}: {key}[{bad}] must be a non-empty string, got {items[bad]!r}")
        lists[key] = tuple(v.strip() for v in items)
    for key in ("emotions", "styles", "reply_emotions"):
        if len({v.lower() for v in lists[key]}) != len(lists[key]):
            raise ConfigError(f"{path}: '{key}' has duplicates (labels are compared case-insensitively)")
    return SeedLists(**lists)


def draw_seed(lists: SeedLists, voices: tuple[str, ...], base_seed: int, index: int) -> Seed:
    """The seed of record `index`: independent of how many records a run asks for or which ran before."""
    digest = hashlib.sha256(f"opens2s-data:{base_seed}:{index}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "little"))
    return Seed(
        index=index,
        situation=rng.choice(lists.situations),
        emotion=rng.choice(lists.emotions),
        persona=rng.choice(lists.personas),
        user_voice=rng.choice(voices),
        rng_seed=int.from_bytes(digest[8:16], "little") % (2**63),
    )
