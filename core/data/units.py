"""Assistant speech -> units, through a small Protocol (the project's SpeechTokenizer fits it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from core.data.config import UnitsConfig
from models.special_tokens import UNIT_TOKEN_FORMAT


class UnitEncoder(Protocol):
    def encode_batch(self, items: Sequence[tuple[np.ndarray, int]]) -> list[list[int]]: ...


def load_unit_encoder(config: UnitsConfig) -> UnitEncoder:
    from core.speech_tokenizer import SpeechTokenizer

    return SpeechTokenizer.load(config.tokenizer, device=config.device)


def encode_one(encoder: UnitEncoder, samples: np.ndarray, rate_hz: int) -> list[int]:
    """One utterance per call: a batch's padding can change the last unit, so records never share a batch
    (the same record gives the same units however a run is split)."""
    return encoder.encode_batch([(samples, rate_hz)])[0]


def unit_string(units: Sequence[int]) -> str:
    return "".join(UNIT_TOKEN_FORMAT.format(u) for u in units)
