"""The seams between the stages, as typing.Protocols: what the engine needs from the model runner, the voice
decoder, the conversation history, the VAD and the audio backend, and nothing more. The real implementations
(core.lm.runner, core.voice.token2wav, core.lm.conversation, core.turns.vad, the `sounddevice` module) and the
stand-ins (testing.fake_audio, app.window.null_audio, testing.sine_vocoder, the test fakes) all satisfy them
structurally.
docs/contracts.md states the behaviour each method promises; docs/architecture.md shows where each seam sits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Protocol

import numpy as np

from core.lm.events import ReplyEvent
from core.lm.sampling import SamplingConfig


# -- model runner: conversation -> text and speech units ----------------------------------------------------------
class ReplyStream(Protocol):
    """One reply being generated: iterate for TextDelta / SpeechUnits, then exactly one TurnEnd."""

    def __iter__(self) -> Iterator[ReplyEvent]: ...

    def cancel(self) -> None:
        """Thread-safe; the iteration ends (TurnEnd CANCELLED) within one decode step."""


class History(Protocol):
    """The conversation the engine keeps (core.lm.conversation.Conversation). Turns are opaque to the engine."""

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


# -- voice decoder: speech units -> audio ----------------------------------------------------------------------
class VoiceStream(Protocol):
    """One utterance being vocoded; every method returns float32 [N] chunks at the decoder's rate."""

    def push(self, units: Iterable[int]) -> list[np.ndarray]: ...

    def flush(self) -> list[np.ndarray]: ...

    def cancel(self) -> None:
        """Thread-safe; a push or flush in progress returns within one flow-matching step, with no audio."""


class Vocoder(Protocol):
    sample_rate_hz: int

    def open_stream(self) -> VoiceStream: ...


# -- turn taking: 16 kHz frames -> speech probability -------------------------------------------------------------
class SpeechDetector(Protocol):
    def prob(self, frame: np.ndarray) -> float:
        """[512] float32 at 16 kHz -> P(speech)."""

    def reset(self) -> None: ...


# -- audio backend: the `sounddevice` module or a stand-in ---------------------------------------------------------
AudioCallback = Callable[[np.ndarray, int, object, object], None]  # (data [frames, ch], frames, time, status)


class AudioStream(Protocol):
    active: bool
    latency: float | tuple[float, float]

    def start(self) -> None: ...

    def abort(self) -> None: ...

    def close(self) -> None: ...


class AudioBackend(Protocol):
    def query_devices(
        self, device: int | str | None = None, kind: str | None = None
    ) -> Mapping[str, object] | list[Mapping[str, object]]: ...

    def InputStream(  # noqa: N802 (sounddevice's name)
        self,
        *,
        samplerate: float,
        blocksize: int,
        device: int | str | None,
        channels: int,
        dtype: str,
        callback: AudioCallback,
        finished_callback: Callable[[], None],
    ) -> AudioStream: ...

    def OutputStream(  # noqa: N802 (sounddevice's name)
        self,
        *,
        samplerate: float,
        blocksize: int,
        device: int | str | None,
        channels: int,
        dtype: str,
        callback: AudioCallback,
        finished_callback: Callable[[], None],
    ) -> AudioStream: ...
