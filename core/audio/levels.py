"""Microphone level reporting and input-signal sanity warnings (digital silence, constant noise)."""

from __future__ import annotations

import math

import numpy as np

from core.engine.config import VAD_FRAME_MS, EngineConfig
from core.engine.events import EngineError, ErrorKind, MicLevel

SILENCE_DBFS = -90.0  # below this the mic delivers (near) digital zero: muted or dead
DB_FLOOR = -120.0


def rms_dbfs(x: np.ndarray) -> float:
    """x: [N] float32 -> RMS level in dBFS (floored at -120)."""
    ms = float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0
    return max(DB_FLOOR, 10.0 * math.log10(ms)) if ms > 0 else DB_FLOOR


class LevelWatch:
    """Fed once per VAD frame; returns MicLevel events every interval and one warning per bad episode."""

    def __init__(self, config: EngineConfig) -> None:
        self._cfg = config
        self._frames_per_level = max(1, round(config.level_interval_ms / VAD_FRAME_MS))
        self._acc: list[float] = []
        self._peak = 0.0
        self._silent_ms = 0.0
        self._noisy_ms = 0.0
        self._warned_silence = False
        self._warned_noise = False

    def update(self, frame: np.ndarray, prob: float, ignored: bool, speech_seen: bool) -> list[object]:
        """frame: [512] float32. `speech_seen`: the VAD is in speech (resets the noise timer)."""
        out: list[object] = []
        level = rms_dbfs(frame)
        self._acc.append(float(np.mean(np.square(frame, dtype=np.float64))))
        self._peak = max(self._peak, float(np.max(np.abs(frame))) if frame.size else 0.0)
        if len(self._acc) >= self._frames_per_level:
            ms = sum(self._acc) / len(self._acc)
            db = max(DB_FLOOR, 10.0 * math.log10(ms)) if ms > 0 else DB_FLOOR
            out.append(MicLevel(db, self._peak, prob, ignored))
            self._acc, self._peak = [], 0.0
        out.extend(self._check_silence(level))
        if not ignored:
            out.extend(self._check_noise(level, speech_seen))
        return out

    def _check_silence(self, level: float) -> list[object]:
        if level > SILENCE_DBFS:
            self._silent_ms, self._warned_silence = 0.0, False
            return []
        self._silent_ms += VAD_FRAME_MS
        if self._warned_silence or self._silent_ms < 1000.0 * self._cfg.silence_warn_s:
            return []
        self._warned_silence = True
        return [
            EngineError(
                ErrorKind.INPUT_SIGNAL,
                f"The microphone has delivered pure silence for "
                f"{self._cfg.silence_warn_s:g} s: check that it is not muted and that the right "
                f"--input-device is selected.",
            )
        ]

    def _check_noise(self, level: float, speech_seen: bool) -> list[object]:
        if speech_seen or level < self._cfg.noise_warn_dbfs:
            self._noisy_ms, self._warned_noise = 0.0, False
            return []
        self._noisy_ms += VAD_FRAME_MS
        if self._warned_noise or self._noisy_ms < 1000.0 * self._cfg.noise_warn_s:
            return []
        self._warned_noise = True
        return [
            EngineError(
                ErrorKind.INPUT_SIGNAL,
                f"The microphone hears constant loud noise "
                f"({level:.0f} dBFS) but no speech: move away from the noise source or lower the "
                f"input gain.",
            )
        ]
