"""Events of the turn stage (core.turns.capture), in capture time since the engine started. The speech events go to
front ends as they are; a `CaptureProblem` is reported by the engine as an `EngineError` of kind INTERNAL."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SpeechStarted:
    """The VAD crossed the start threshold (a turn may follow). `at_s` is capture time since engine start."""

    at_s: float


@dataclass(frozen=True)
class SpeechDiscarded:
    """Speech shorter than `min_speech_ms` (a cough, a click): no turn was dispatched."""

    at_s: float
    speech_ms: float


@dataclass(frozen=True)
class SpeechIgnored:
    """Half-duplex: voiced sound was heard while the app was talking and the microphone was muted. It may be the
    app's own voice; if it was the user, what they said was not heard (front ends say so)."""

    at_s: float  # capture time
    speech_ms: float


@dataclass(frozen=True)
class CaptureProblem:
    """The capture thread lost audio (it fell behind) or failed on a block; it goes on listening. `message` is one
    actionable line."""

    message: str
