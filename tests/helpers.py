"""Shared test helpers (not fixtures)."""

from __future__ import annotations

from core.audio.synthetic import synthetic_clip
from models.rates import SPEECH_RATE_HZ as RATE_HZ

__all__ = ["RATE_HZ", "synthetic_clip"]
