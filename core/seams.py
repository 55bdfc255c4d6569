"""The seams between the engine and the stages above the turn stage, as typing.Protocols: what the engine reads from
the model runner, the conversation history and the vocoder, and nothing more. The real implementations
(core.lm.runner, core.lm.conversation, core.voice.vocoder) and the stand-ins (testing.sine_vocoder, the test fakes)
satisfy them structurally. The seams that the lower stages consume themselves live there: the audio backend in
core.audio.backend (`AudioBackend`, `AudioStream`), the VAD in core.turns.vad (`SpeechDetector`).
docs/contracts.md states the behaviour each method promises; docs/architecture.md shows where each seam sits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Protocol

import numpy as np

from core.lm.events import ReplyEvent
from core.lm.sampling import SamplingConfig
from core.voice.chunk_schedule import ChunkSchedule

if TYPE_CHECKING:
    import torch


# -- model runner: conversation -> text and speech units ----------------------------------------------------------
class ReplyStream(Protocol):
    """One reply being generated: iterate for TextDelta / SpeechUnits, then exactly one TurnEnd."""

    def __iter__(self) -> Iterator[ReplyEvent]: ...

    def cancel(self) -> None:
        """Thread-safe; the iteration ends (TurnEnd CANCELLED) within one decode step."""


class History(Protocol):
    """The conversation the engine keeps (core.lm.conversation.Conversation). Turns are opaque to the engine."""

    turns: list  # in order; the engine removes a tail (an early-committed turn and its reply) when the user went on

    def add_user_audio(self, samples_16k: np.ndarray) -> object: ...

    def add_user_text(self, text: str) -> object: ...

    def user_audio_turn(self, samples_16k: np.ndarray) -> object:
        """A user turn for these samples, validated but not added (raises UserError)."""

    def append(self, turn: object) -> object: ...

    def extended(self, turn: object) -> History:
        """A copy of this history plus `turn` (what a speculative reply is computed on)."""

    def add_assistant(self, text: str) -> object: ...


class ModelRunner(Protocol):
    def reply(self, conversation: History, sampling: SamplingConfig | None = None) -> ReplyStream: ...


# -- vocoder: speech units -> audio (core.voice.vocoder.Vocoder; app.sine_decoder.SineDecoder without compute) -----
class VoiceStream(Protocol):
    """One utterance being vocoded; every method returns float32 [N] chunks at the vocoder's rate."""

    def push(self, units: Iterable[int]) -> list[np.ndarray]: ...

    def flush(self) -> list[np.ndarray]: ...

    def cancel(self) -> None:
        """Thread-safe; a push or flush in progress returns within one flow-matching step, with no audio."""


class VoiceSynthesizer(Protocol):
    """What the engine reads from a vocoder: its output rate, and per reply a stream opened with the chunk schedule
    and the seeded generator of its `core.voice.schedule_plan.PlaybackPlan`."""

    sample_rate_hz: int

    def open_stream(self, schedule: ChunkSchedule, generator: torch.Generator) -> VoiceStream: ...
