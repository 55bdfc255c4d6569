"""Shared test helpers (not fixtures)."""

from __future__ import annotations

from models.rates import SPEECH_RATE_HZ as RATE_HZ
from testing.synthetic import synthetic_clip

__all__ = ["RATE_HZ", "synthetic_clip"]
