"""Conversation history: user audio/text turns and assistant text turns, as the model sees them."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from core.audio.clips import load_audio_file, validate_clip
from core.lm.clip_spool import ClipSpool
from models.errors import UserError
from models.special_tokens import DEFAULT_SYSTEM_PROMPT

log = logging.getLogger(__name__)

USER, ASSISTANT = "user", "assistant"


class Turn:
    """One message. A user turn has audio (16 kHz mono float32) or text; an assistant turn has text.

    Immutable, compared by identity (the prompt cache keys its positions by turn). `audio` gives the samples
    wherever they are: in memory, or in the conversation's ClipSpool once the turn is history (`spill`)."""

    __slots__ = ("role", "text", "_clip")

    def __init__(self, role: str, text: str = "", audio: np.ndarray | None = None) -> None:
        if role not in (USER, ASSISTANT):
            raise ValueError(f"unknown role {role!r}")
        if role == ASSISTANT and audio is not None:
            raise ValueError("assistant turns carry text only")
        object.__setattr__(self, "role", role)
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "_clip", _Clip(audio) if audio is not None else None)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a Turn is immutable (cannot set {name!r})")

    def __repr__(self) -> str:
        audio = f", audio={self.n_samples} samples" if self.has_audio else ""
        return f"Turn(role={self.role!r}, text={self.text!r}{audio})"

    @property
    def has_audio(self) -> bool:
        return self._clip is not None

    @property
    def n_samples(self) -> int:
        """Samples of audio (0 for a text turn); never reads a spilled clip."""
        return self._clip.n_samples if self._clip is not None else 0

    @property
    def audio(self) -> np.ndarray | None:
        """[N] float32 at 16 kHz, or None for a text turn. A spilled clip is read back (read-only array)."""
        return self._clip.samples() if self._clip is not None else None

    @property
    def audio_in_memory(self) -> np.ndarray | None:
        """The samples this turn holds in memory (None when it has none, or they are in the spool)."""
        return self._clip.in_memory if self._clip is not None else None

    def spill(self, spool: ClipSpool) -> bool:
        """Move this turn's samples into `spool` (no-op for a text turn or one already spilled). False when the
        spool refused them (they stay in memory)."""
        return self._clip.spill(spool) if self._clip is not None else True


class _Clip:
    """A turn's samples: in memory until `spill`, then (spool, byte offset). Safe to read while another thread
    spills: the spool location is set before the samples are let go."""

    __slots__ = ("in_memory", "n_samples", "_spool", "_offset")

    def __init__(self, samples: np.ndarray) -> None:
        self.in_memory: np.ndarray | None = samples
        self.n_samples = int(samples.size)
        self._spool: ClipSpool | None = None
        self._offset = 0

    def samples(self) -> np.ndarray:
        held = self.in_memory
        if held is not None:
            return held
        return self._spool.get(self._offset, self.n_samples)

    def spill(self, spool: ClipSpool) -> bool:
        held = self.in_memory
        if held is None:
            return True
        where = spool.put(held)
        if where is None:
            return False
        self._spool, self._offset = spool, where[0]
        self.in_memory = None
        return True


class Conversation:
    """An ordered list of turns plus the system prompt. Not thread-safe: one owner mutates it.

    Memory stays flat in a long session: when a turn is added through this API, the audio of every earlier turn
    moves to the conversation's ClipSpool (a temporary file; see core.lm.clip_spool). Only the newest audio turn,
    the one being answered, stays in memory."""

    def __init__(self, system_prompt: str | None = None):
        self.system_prompt = DEFAULT_SYSTEM_PROMPT if system_prompt is None else system_prompt
        self.turns: list[Turn] = []
        self.spool = ClipSpool()

    def add_user_audio(self, samples_16k: np.ndarray) -> Turn:
        return self.append(self.user_audio_turn(samples_16k))

    @staticmethod
    def user_audio_turn(samples_16k: np.ndarray) -> Turn:
        """A validated user audio turn, not yet in any history (raises UserError for an unusable clip)."""
        return Turn(USER, audio=validate_clip(np.asarray(samples_16k, dtype=np.float32)))

    def append(self, turn: Turn) -> Turn:
        self._spill_history()
        self.turns.append(turn)
        return turn

    def _spill_history(self) -> None:
        """Earlier turns' audio to the spool (they were answered: the prompt cache holds their encoding)."""
        for t in self.turns:
            if t.audio_in_memory is not None:
                t.spill(self.spool)

    def extended(self, turn: Turn) -> Conversation:
        """A new conversation: this one's system prompt and turns (the same objects, so the prompt cache
        recognises them) plus `turn`; this one is unchanged."""
        conv = Conversation(self.system_prompt)
        conv.spool = self.spool
        conv.turns = [*self.turns, turn]
        return conv

    def add_user_text(self, text: str) -> Turn:
        if not text.strip():
            raise UserError("the message is empty; type something to say")
        return self.append(Turn(USER, text=text))

    def add_assistant(self, text: str) -> Turn:
        return self.append(Turn(ASSISTANT, text=text))

    def clear(self) -> None:
        self.turns.clear()
        self.spool = ClipSpool()  # the old file goes when the last turn that refers to it does

    @property
    def n_audio_turns(self) -> int:
        return sum(t.has_audio for t in self.turns)

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
