"""Typed events emitted by the listeners (user transcript, per-turn emotion, listener status).

The listeners run beside the reply on their own worker threads and call the engine's `emit(event)` sink with
these. `core.lm.events.EmotionLabel` carries the label itself; `TurnEmotion` ties it to a turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.lm.events import EmotionLabel

# Listener names, as used in `ListenerStatus.name` and `Listeners.status()` keys.
ASR = "asr"
USER_EMOTION = "user_emotion"
ASSISTANT_EMOTION = "assistant_emotion"
LISTENER_NAMES = (ASR, USER_EMOTION, ASSISTANT_EMOTION)


@dataclass(frozen=True)
class UserTranscript:
    """What the user said. Partials (`is_final=False`) come while the user speaks; one final per turn.

    `turn_id` is the id the caller passed (`None` for partials fed without one).
    """

    turn_id: int | None
    text: str
    is_final: bool


@dataclass(frozen=True)
class TurnEmotion:
    """An emotion label for a turn: `emotion.source` is "user" (speech) or "assistant" (reply text).

    Assistant labels update while the reply grows (`is_final=False`); the one after the reply ends is final.
    """

    turn_id: int | None
    emotion: EmotionLabel
    is_final: bool = True


@dataclass(frozen=True)
class ListenerStatus:
    """Whether a listener is usable. `enabled=False` with a `reason` is "off — reason" (or still loading)."""

    name: str  # one of LISTENER_NAMES
    enabled: bool
    reason: str  # "ready", "loading", or why it is off
    checkpoint: str | None = None
    labels: tuple[str, ...] = field(default=())  # from the checkpoint config's id2label (emotion listeners)
    last_error: str | None = None  # the latest failure of a single request (the listener may still be on)

    @property
    def loading(self) -> bool:
        return not self.enabled and self.reason == LOADING

    def describe(self) -> str:
        """One line for logs and the UI, e.g. "asr: off — checkpoint not found: /x"."""
        state = "on" if self.enabled else ("loading" if self.loading else "off")
        if state == "loading":
            return f"{self.name}: loading"
        return f"{self.name}: {state} — {self.reason}"


LOADING = "loading"
READY = "ready"
