"""How replies are voiced: the vocoder backend, the chunk schedule and the noise seed (frozen, validated)."""

from __future__ import annotations

from dataclasses import dataclass

from core.options import opt

BACKENDS = ("torch", "onnx")
# "auto": planned from this machine's measured vocoder and LM speed (core.voice.schedule_plan); the others are
# core.voice.chunk_schedule.ChunkSchedule presets
SCHEDULES = ("auto", "fast", "smooth")


@dataclass(frozen=True)
class VoiceConfig:
    backend: str = opt("torch", "vocoder backend: torch, or onnx (onnxruntime)", choices=BACKENDS)
    schedule: str = opt(
        "auto", "auto: first chunk of 8 units, later chunks and jitter buffer planned from this machine's measured "
        "vocoder and LM speed; fast: fixed 8, 5, 5, 10... units; smooth: 16 units first, full overlaps",
        choices=SCHEDULES)
    seed: int = opt(0, "vocoder noise seed (the same units and seed give the same audio)")

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
