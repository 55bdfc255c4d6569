"""Helpers for the engine tests."""

from __future__ import annotations

from core.engine.config import AudioConfig, EngineConfig, VadConfig


def config(**kw) -> EngineConfig:
    vad = kw.pop("vad", VadConfig(end_silence_ms=500))
    return EngineConfig(vad=vad, audio=AudioConfig(prebuffer_ms=60), **kw)
