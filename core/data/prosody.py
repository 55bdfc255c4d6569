"""Emotion and speaking-style labels mapped to prosody (rate, pitch, pitch range, volume) for backends whose only
expressive control is prosody (espeak-ng, VITS). Unknown labels speak neutrally."""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prosody:
    rate: float = 1.0  # speed factor
    pitch: float = 1.0  # base pitch factor
    pitch_range: float = 1.0  # intonation range factor
    volume: float = 1.0  # amplitude factor

    def combine(self, other: Prosody) -> Prosody:
        return Prosody(self.rate * other.rate, self.pitch * other.pitch, self.pitch_range * other.pitch_range,
                       self.volume * other.volume)


NEUTRAL = Prosody()

EMOTION_PROSODY: dict[str, Prosody] = {
    # user emotions (assets/data/seeds.yaml)
    "sad": Prosody(rate=0.82, pitch=0.85, pitch_range=0.6, volume=0.8),
    "happy": Prosody(rate=1.1, pitch=1.15, pitch_range=1.5, volume=1.05),
    "angry": Prosody(rate=1.12, pitch=1.05, pitch_range=1.3, volume=1.25),
    "anxious": Prosody(rate=1.18, pitch=1.12, pitch_range=0.9, volume=0.95),
    "surprised": Prosody(rate=1.05, pitch=1.25, pitch_range=1.7, volume=1.1),
    "lonely": Prosody(rate=0.85, pitch=0.9, pitch_range=0.7, volume=0.8),
    "frustrated": Prosody(rate=1.05, pitch=0.95, pitch_range=1.2, volume=1.15),
    "excited": Prosody(rate=1.2, pitch=1.2, pitch_range=1.6, volume=1.15),
    "neutral": NEUTRAL,
    # reply emotions
    "caring": Prosody(rate=0.92, pitch=1.0, pitch_range=1.1, volume=0.95),
    "cheerful": Prosody(rate=1.08, pitch=1.12, pitch_range=1.4, volume=1.05),
    "calm": Prosody(rate=0.9, pitch=0.95, pitch_range=0.8, volume=0.9),
    "encouraging": Prosody(rate=1.0, pitch=1.08, pitch_range=1.3, volume=1.05),
    "concerned": Prosody(rate=0.9, pitch=0.92, pitch_range=0.9, volume=0.9),
}

STYLE_PROSODY: dict[str, Prosody] = {
    "normal": NEUTRAL,
    "fast": Prosody(rate=1.25),
    "slow": Prosody(rate=0.78),
    "quiet": Prosody(volume=0.6, pitch_range=0.8),
    "loud": Prosody(volume=1.4, pitch_range=1.1),
    "trembling": Prosody(rate=0.9, pitch=1.05, pitch_range=1.4, volume=0.9),
}


def prosody_for(emotion: str, style: str = "normal") -> Prosody:
    e = EMOTION_PROSODY.get(emotion.lower())
    s = STYLE_PROSODY.get(style.lower())
    if e is None or s is None:
        log.debug("no prosody for emotion %r / style %r: neutral", emotion, style)
    return (e or NEUTRAL).combine(s or NEUTRAL)
