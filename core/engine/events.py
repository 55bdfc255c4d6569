"""Typed events emitted by the realtime engine (`core.engine.engine.Engine`) to any front end.

All events are frozen dataclasses. They are delivered on the engine-events thread through the sink callback given
to the engine; a GUI must marshal them to its own thread (e.g. a Qt signal). `EngineEvent` is their union: the
engine's own events below, and the stages' events it passes on as they are (`MicLevel` from core.audio.levels;
`SpeechStarted`, `SpeechDiscarded`, `SpeechIgnored` from core.turns.events). The stages' problem reports
(`SignalWarning`, `CaptureProblem`) reach front ends as `EngineError`s (`engine_event`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from core.audio.levels import MicLevel, SignalWarning
from core.lm.events import AudioChunk, SpeechUnits, StopReason, TextDelta
from core.turns.end_of_turn import EndOfTurnCourse
from core.turns.events import CaptureProblem, SpeechDiscarded, SpeechIgnored, SpeechStarted


class EngineState(enum.Enum):
    """Session states: IDLE -> LISTENING -> THINKING -> SPEAKING -> LISTENING (IDLE again after stop/loss)."""

    IDLE = "idle"  # no audio streams open
    LISTENING = "listening"  # waiting for / capturing a user turn
    THINKING = "thinking"  # turn dispatched, no reply sample played yet
    SPEAKING = "speaking"  # reply audio is playing


class ErrorKind(enum.Enum):
    """What an `EngineError` is about, so front ends can choose an icon or a retry button."""

    INPUT_DEVICE = "input_device"
    OUTPUT_DEVICE = "output_device"
    MODEL = "model"
    VOCODER = "vocoder"
    INPUT_SIGNAL = "input_signal"  # silence-only mic, constant noise, over-long turn
    INTERNAL = "internal"


@dataclass(frozen=True)
class StateChanged:
    old: EngineState
    new: EngineState
    reason: str  # short machine-friendly cause, e.g. "turn_captured", "first_audio", "barge_in"


@dataclass(frozen=True)
class UserTurnCaptured:
    """A user turn was detected and dispatched to the model."""

    turn_id: int
    samples: np.ndarray = field(repr=False)  # [N] float32, 16 kHz mono, pre-roll included
    sample_rate_hz: int
    start_s: float  # capture time of the first sample (pre-roll included) since engine start
    speech_end_s: float  # capture time at which speech ended (before the end-of-turn silence)
    dispatched_s: float  # capture time at which the turn was dispatched
    reason: str  # "silence" (end-of-turn silence) | "semantic" (end-of-turn model) | "max_length" | "submitted"
    speech_end_t: float | None = None  # time.monotonic() when the last voiced frame arrived from the device
    dispatched_t: float = 0.0  # time.monotonic() of the dispatch
    continues_turn: int | None = None  # the user went on after turn N was committed early: `samples` is turn N's
    # audio and this speech, one user turn (turn N's reply was stopped; the history holds this turn instead)
    end_of_turn: EndOfTurnCourse | None = None  # the model calls over the silence that ended it, and the thresholds


@dataclass(frozen=True)
class UserTextSubmitted:
    """A typed user turn (`Engine.submit_text`) was dispatched to the model."""

    turn_id: int
    text: str
    dispatched_t: float = 0.0  # time.monotonic() of the dispatch


@dataclass(frozen=True)
class ReplyText:
    turn_id: int
    delta: TextDelta


@dataclass(frozen=True)
class ReplyUnits:
    turn_id: int
    units: SpeechUnits


@dataclass(frozen=True)
class ReplyAudio:
    """Vocoder output (before output resampling), as it is queued for playback."""

    turn_id: int
    chunk: AudioChunk


@dataclass(frozen=True)
class BargeIn:
    """User speech interrupted the reply of `turn_id`; playback was stopped and generation cancelled."""

    turn_id: int
    speech_ms: float  # speech duration that triggered it
    speech_start_t: float | None = None  # time.monotonic() the block with the speech onset arrived (None: button)
    stopped_t: float = 0.0  # time.monotonic() playback was stopped (the next output callback is silent)


@dataclass(frozen=True)
class ReplyPaused:
    """Speech over the reply of `turn_id` (full duplex): playback is silenced, its queue kept. It stops for good
    (BargeIn) if the speech goes on to `backchannel_ms`, and resumes (ReplyResumed) after a shorter backchannel."""

    turn_id: int
    speech_ms: float
    speech_start_t: float | None = None  # time.monotonic() the block with the speech onset arrived
    paused_t: float = 0.0  # time.monotonic() playback was silenced


@dataclass(frozen=True)
class ReplyResumed:
    """The speech that paused the reply of `turn_id` was a backchannel ("mm-hm"): it plays on."""

    turn_id: int
    speech_ms: float  # the backchannel's voiced time
    resumed_t: float = 0.0


@dataclass(frozen=True)
class DuplexResolved:
    """How this engine shares the room (core.audio.duplex): 'speakers' (echo cancellation), 'headphones' or
    'half', and why (the setting, or what 'auto' read from the output device)."""

    mode: str
    reason: str


@dataclass(frozen=True)
class ReplyTiming:
    """time.monotonic() marks of one reply (None = never happened), compute spent before the first sound.

    Critical path to the first sound: dispatched -> first_needed_units (the model emitted the units whose push
    gave the first audio) -> first_push (the vocoder started that push) -> first_audio (it returned audio)
    -> first_written (resampled into the jitter buffer) -> first_play (an output callback played it).
    """

    dispatched_t: float
    first_text_t: float | None = None
    first_units_t: float | None = None  # first SpeechUnits out of the runner
    first_needed_units_t: float | None = None
    first_push_t: float | None = None
    first_audio_t: float | None = None
    first_written_t: float | None = None
    first_play_t: float | None = None
    model_to_first_units_s: float = 0.0  # time inside the runner's iterator until the first units
    model_to_first_audio_s: float = 0.0  # ... until the first vocoder chunk (overlaps vocoder compute)
    vocoder_to_first_audio_s: float = 0.0  # time inside vocoder push()/flush() until the first chunk
    speculated_t: float | None = None  # a speculative reply: when it started (before dispatched_t)


@dataclass(frozen=True)
class ReplyEnded:
    """A reply finished, was interrupted, or failed. `heard_text` went into the conversation history."""

    turn_id: int
    reason: StopReason
    text: str  # everything the model generated
    heard_text: str  # what was actually played (== text when played to the end)
    interrupted: bool
    played_s: float  # reply audio handed to the device
    generated_s: float  # reply audio produced by the vocoder
    underruns: int  # output callbacks that found the jitter buffer empty mid-reply
    error: str | None = None
    timing: ReplyTiming | None = None


@dataclass(frozen=True)
class EngineError:
    """Something went wrong; `message` is one actionable line. `fatal` means the engine went IDLE."""

    kind: ErrorKind
    message: str
    fatal: bool = False


EngineEvent = (
    StateChanged
    | MicLevel
    | SpeechStarted
    | SpeechDiscarded
    | SpeechIgnored
    | UserTurnCaptured
    | UserTextSubmitted
    | ReplyText
    | ReplyUnits
    | ReplyAudio
    | BargeIn
    | ReplyPaused
    | ReplyResumed
    | DuplexResolved
    | ReplyEnded
    | EngineError
)


def engine_event(event: EngineEvent | SignalWarning | CaptureProblem) -> EngineEvent:
    """What the sink gets for an event of the capture thread: a stage's problem report becomes an EngineError."""
    if isinstance(event, SignalWarning):
        return EngineError(ErrorKind.INPUT_SIGNAL, event.message)
    if isinstance(event, CaptureProblem):
        return EngineError(ErrorKind.INTERNAL, event.message)
    return event
