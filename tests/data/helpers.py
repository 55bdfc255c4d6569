"""Shared pieces of the data-construction tests: a tiny kit (random LLM, speech tokenizer, Whisper), configs, and a
scripted fake dialogue LLM for garbage output."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import yaml

VALID = {
    "user_text": "I failed my exam and I feel awful.", "user_emotion": "sad", "user_style": "slow",
    "assistant_text": "I am so sorry, that sounds really hard.", "assistant_emotion": "caring",
}

# (raw answer, reason it must be dropped under, or None if it must be kept); one answer per record index.
SCRIPT: list[tuple[str, str | None]] = [
    (json.dumps(VALID), None),
    ("Sure! Here is a dialogue: the user is sad.", "parse:no_json"),
    ('{"user_text": "I failed", "user_emotion": "sad"', "parse:no_json"),  # cut off
    (json.dumps({**VALID, "assistant_text": 42}), "parse:missing_field"),
    (json.dumps({**VALID, "user_emotion": "melancholic"}), "parse:bad_label"),
    (json.dumps({**VALID, "assistant_text": "<|im_end|> {oops}"}), "parse:bad_text"),
    ("noise before " + json.dumps({**VALID, "user_style": "FAST"}) + " trailing", None),  # labels match any case
    (json.dumps({**VALID, "user_text": "\u0001\u0002 ok ok"}), "parse:bad_text"),
    ("", "parse:no_json"),
    (json.dumps({**VALID, "assistant_text": "Hi"}), "parse:bad_text"),  # one word
]
RAISE_ON_INDEX = 10  # the fake LLM raises for the batch holding this index


class ScriptedLM:
    """Answers record `index` with SCRIPT[index % len(SCRIPT)]; raises for a batch holding RAISE_ON_INDEX."""

    name = "scripted"

    def __init__(self, config=None, lists=None) -> None:
        pass

    def generate(self, seeds: Sequence) -> list[str]:
        if any(s.index == RAISE_ON_INDEX for s in seeds):
            raise RuntimeError("the scripted LLM fell over")
        return [SCRIPT[s.index % len(SCRIPT)][0] for s in seeds]


def make_kit(root: Path) -> dict[str, Path]:
    """Tiny random LLM, speech tokenizer and listeners under `root`."""
    from models.listeners.tiny import write_tiny_listeners
    from models.tiny_lm import make_tiny_causal_lm
    from models.tiny_speech_tokenizer import write_tiny_speech_tokenizer

    kit = {"llm": make_tiny_causal_lm(root / "llm", seed=0), "tok": write_tiny_speech_tokenizer(root / "tok", seed=0)}
    kit.update({f"listen_{k}": v for k, v in write_tiny_listeners(root / "listeners").items()})
    return kit


def write_config(path: Path, kit: dict[str, Path], n: int, **sections) -> Path:
    data = {
        "n_dialogues": n,
        "seed": 7,
        "llm": {"path": str(kit["llm"]), "max_field_tokens": 16, "batch_size": 2},
        "units": {"tokenizer": str(kit["tok"])},
        "filters": {"asr_checkpoint": str(kit["listen_asr"]), "max_wer": 100.0, "asr_max_new_tokens": 4},
        "speech": {"batch_size": 2},
    }
    for key, value in sections.items():
        if isinstance(value, dict):
            data.setdefault(key, {}).update(value)
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data), "utf-8")
    return path


def dataset_files(out: Path) -> dict[str, bytes]:
    """The dataset's content: jsonl and audio bytes (not the state files, which hold timings)."""
    files = {"data.jsonl": (out / "data.jsonl").read_bytes()}
    files.update({f"audio/{p.name}": p.read_bytes() for p in sorted((out / "audio").glob("*.wav"))})
    return files
