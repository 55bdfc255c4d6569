"""Typed events yielded by a reply stream (model runner) and the vocoder stream.

Front ends (CLI, realtime engine, Qt UI) consume these; none of them is Qt-specific.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np


class StopReason(enum.Enum):
    """Why a reply ended."""

    EOS = "eos"  # the LLM produced an end-of-turn token
    MAX_TEXT_TOKENS = "max_text_tokens"  # the text budget ran out
    MAX_UNITS = "max_units"  # the shared speech-unit budget ran out (text is cut as well)
    CANCELLED = "cancelled"  # the caller cancelled the stream (barge-in, stop button)
    ERROR = "error"  # the model raised; see TurnEnd.error


@dataclass(frozen=True)
class TextDelta:
    """New assistant text. `text` is the UTF-8-safe detokenized increment for `token_ids`.

    `token_ids` are all LLM ids sampled in this step, special tokens included; `text` skips specials.
    """

    text: str
    token_ids: tuple[int, ...]


@dataclass(frozen=True)
class SpeechUnits:
    """New GLM-4-Voice speech units (ids already minus the `<|audio_0|>` offset, in [0, 16384)).

    `token_ids` are the raw TTS-LM ids drawn in this step, the TTS EOS and any non-unit token included; those are
    left out of `units` (the reference would pass the EOS on to the vocoder as a spurious unit 0).
    """

    units: tuple[int, ...]
    token_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class AudioChunk:
    """A chunk of reply audio, mono float32 in [-1, 1]."""

    samples: np.ndarray  # [N] float32
    sample_rate_hz: int
    index: int  # 0-based chunk number within the utterance
    is_last: bool


@dataclass(frozen=True)
class EmotionLabel:
    """An emotion estimate for a turn, from a listener (user speech, or assistant text)."""

    source: str  # "user" | "assistant"
    label: str
    confidence: float


@dataclass(frozen=True)
class TurnEnd:
    """The reply is over. `text` is the full assistant text, `n_units` the number of units streamed."""

    reason: StopReason
    text: str
    n_text_tokens: int
    n_units: int
    error: str | None = None


ReplyEvent = TextDelta | SpeechUnits | TurnEnd
