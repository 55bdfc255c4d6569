"""One text-to-speech interface for data construction; each backend says which controls it honours."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from core.data.config import SpeechConfig


@dataclass(frozen=True)
class SpeechRequest:
    text: str
    voice: str  # a backend voice name: espeak-ng "en-us+f2", VITS "speaker:12"
    emotion: str  # a label (seeds' emotions / reply_emotions)
    style: str = "normal"  # a label (seeds' styles)


class SpeechSynth(Protocol):
    """Text to mono float32 speech. Deterministic for the same request."""

    name: str
    controls: tuple[str, ...]  # what the backend really changes: "speaker", "rate", "pitch", "emotion", ...

    def synthesize(self, request: SpeechRequest) -> tuple[np.ndarray, int]:  # ([N] float32, rate_hz)
        ...

    def check_voice(self, voice: str) -> None:  # raises UserError for a voice it does not have
        ...


def load_synth(config: SpeechConfig) -> SpeechSynth:
    if config.backend == "vits":
        from core.data.tts_vits import VitsSynth

        synth: SpeechSynth = VitsSynth(config.checkpoint or "", config.device)
    else:
        from core.data.tts_espeak import EspeakSynth

        synth = EspeakSynth()
    for voice in (*config.user_voices, config.assistant_voice):
        synth.check_voice(voice)
    return synth
