"""Microphone level reporting and input-signal sanity warnings (digital silence, constant noise): the audio stage's
parameters (`LevelConfig`) and events (`MicLevel`, delivered to front ends as is; `SignalWarning`, which the engine
reports as an `EngineError` of kind INPUT_SIGNAL)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.options import opt

SILENCE_DBFS = -90.0  # below this the mic delivers (near) digital zero: muted or dead
DB_FLOOR = -120.0


@dataclass(frozen=True)
class LevelConfig:
    """How often levels are reported and when the input signal is worth a warning."""

    level_interval_ms: float = opt(100.0, "MicLevel event period")
    silence_warn_s: float = opt(5.0, "warn when the mic delivers digital silence this long")
    noise_warn_s: float = opt(8.0, "warn when the mic is loud this long without any detected speech")
    noise_warn_dbfs: float = opt(-30.0, "'loud' for the noise warning")

    def __post_init__(self) -> None:
        if not 10.0 <= self.level_interval_ms <= 5000.0:
            raise ValueError(f"level_interval_ms must be in [10, 5000], got {self.level_interval_ms}")
        if not (self.silence_warn_s > 0 and self.noise_warn_s > 0):
            raise ValueError("silence_warn_s and noise_warn_s must be > 0")
        if not -120.0 < self.noise_warn_dbfs < 0.0:
            raise ValueError(f"noise_warn_dbfs must be in (-120, 0), got {self.noise_warn_dbfs}")


@dataclass(frozen=True)
class MicLevel:
    """Input level, about every `LevelConfig.level_interval_ms`."""

    rms_dbfs: float
    peak: float  # max |sample| in the interval, [0, 1]
    speech_prob: float  # last VAD probability in the interval
    ignored: bool  # True while half-duplex ignores the microphone


@dataclass(frozen=True)
class SignalWarning:
    """The input signal looks wrong (digital silence, constant noise); `message` is one actionable line."""

    message: str


def rms_dbfs(x: np.ndarray) -> float:
    """x: [N] float32 -> RMS level in dBFS (floored at -120)."""
    ms = float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0
    return max(DB_FLOOR, 10.0 * math.log10(ms)) if ms > 0 else DB_FLOOR


class LevelWatch:
    """Fed once per VAD frame; returns MicLevel events every interval and one warning per bad episode."""

    def __init__(self, config: LevelConfig, frame_ms: float) -> None:
        """frame_ms: the duration of one `update()` frame."""
        self._cfg, self._frame_ms = config, frame_ms
        self._frames_per_level = max(1, round(config.level_interval_ms / frame_ms))
        self._acc: list[float] = []
        self._peak = 0.0
        self._silent_ms = 0.0
        self._noisy_ms = 0.0
        self._warned_silence = False
        self._warned_noise = False

    def update(self, frame: np.ndarray, prob: float, ignored: bool,
               speech_seen: bool) -> list[MicLevel | SignalWarning]:
        """frame: [N] float32. `speech_seen`: the VAD is in speech (resets the noise timer)."""
        out: list[MicLevel | SignalWarning] = []
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

    def _check_silence(self, level: float) -> list[SignalWarning]:
        if level > SILENCE_DBFS:
            self._silent_ms, self._warned_silence = 0.0, False
            return []
        self._silent_ms += self._frame_ms
        if self._warned_silence or self._silent_ms < 1000.0 * self._cfg.silence_warn_s:
            return []
        self._warned_silence = True
        return [
            SignalWarning(
                f"The microphone has delivered pure silence for "
                f"{self._cfg.silence_warn_s:g} s: check that it is not muted and that the right "
                f"--input-device is selected.",
            )
        ]

    def _check_noise(self, level: float, speech_seen: bool) -> list[SignalWarning]:
        if speech_seen or level < self._cfg.noise_warn_dbfs:
            self._noisy_ms, self._warned_noise = 0.0, False
            return []
        self._noisy_ms += self._frame_ms
        if self._warned_noise or self._noisy_ms < 1000.0 * self._cfg.noise_warn_s:
            return []
        self._warned_noise = True
        return [
            SignalWarning(
                f"The microphone hears constant loud noise "
                f"({level:.0f} dBFS) but no speech: move away from the noise source or lower the "
                f"input gain.",
            )
        ]
