"""Conversation history: user audio/text turns and assistant text turns, as the model sees them."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.audio.clips import load_audio_file, validate_clip
from models.errors import UserError
from models.special_tokens import DEFAULT_SYSTEM_PROMPT

log = logging.getLogger(__name__)

USER, ASSISTANT = "user", "assistant"


@dataclass(frozen=True, eq=False)
class Turn:
    """One message. A user turn has audio (16 kHz mono float32) or text; an assistant turn has text."""

    role: str
    text: str = ""
    audio: np.ndarray | None = field(default=None, repr=False)  # [N] float32 at 16 kHz

    def __post_init__(self) -> None:
        if self.role not in (USER, ASSISTANT):
            raise ValueError(f"unknown role {self.role!r}")
        if self.role == ASSISTANT and self.audio is not None:
            raise ValueError("assistant turns carry text only")


class Conversation:
    """An ordered list of turns plus the system prompt. Not thread-safe: one owner mutates it."""

    def __init__(self, system_prompt: str | None = None):
        self.system_prompt = DEFAULT_SYSTEM_PROMPT if system_prompt is None else system_prompt
        self.turns: list[Turn] = []

    def add_user_audio(self, samples_16k: np.ndarray) -> Turn:
        return self.append(self.user_audio_turn(samples_16k))

    @staticmethod
    def user_audio_turn(samples_16k: np.ndarray) -> Turn:
        """A validated user audio turn, not yet in any history (raises UserError for an unusable clip)."""
        return Turn(USER, audio=validate_clip(np.asarray(samples_16k, dtype=np.float32)))

    def append(self, turn: Turn) -> Turn:
        self.turns.append(turn)
        return turn

    def extended(self, turn: Turn) -> Conversation:
        """A new conversation: this one's system prompt and turns (the same objects, so the prompt cache
        recognises them) plus `turn`; this one is unchanged."""
        conv = Conversation(self.system_prompt)
        conv.turns = [*self.turns, turn]
        return conv

    def add_user_text(self, text: str) -> Turn:
        if not text.strip():
            raise UserError("the message is empty; type something to say")
        turn = Turn(USER, text=text)
        self.turns.append(turn)
        return turn

    def add_assistant(self, text: str) -> Turn:
        turn = Turn(ASSISTANT, text=text)
        self.turns.append(turn)
        return turn

    def clear(self) -> None:
        self.turns.clear()

    @property
    def n_audio_turns(self) -> int:
        return sum(t.audio is not None for t in self.turns)

    @classmethod
    def from_history_file(cls, path: str | Path, system_prompt: str | None = None) -> Conversation:
        """Load `[{"role": "user", "text": "..."} | {"role": "user", "audio": "clip.wav"} | {"role": "assistant",
        "text": "..."}, ...]` (audio paths relative to the file)."""
        path = Path(path)
        try:
            items = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise UserError(f"history file {path} is not readable JSON ({err})") from None
        if not isinstance(items, list):
            raise UserError(f"history file {path} must hold a JSON list of turns")
        conv = cls(system_prompt)
        for i, item in enumerate(items):
            role = item.get("role") if isinstance(item, dict) else None
            if role == ASSISTANT and isinstance(item.get("text"), str):
                conv.add_assistant(item["text"])
            elif role == USER and item.get("audio"):
                conv.add_user_audio(load_audio_file(path.parent / item["audio"]))
            elif role == USER and isinstance(item.get("text"), str):
                conv.add_user_text(item["text"])
            else:
                raise UserError(f"history file {path}: turn {i} needs role user|assistant and text (or audio)")
        return conv
