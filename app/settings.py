"""App settings: one frozen, validated dataclass stored as JSON in the platform's config dir (platformdirs).

`AppSettings` is validated by building the frozen engine / sampling / listener configs from it, so a value the
engine would refuse is refused here with the same message. Paths can be redirected for tests and portable use
with the `OPENS2S_COMPANION_CONFIG_DIR` / `OPENS2S_COMPANION_DATA_DIR` environment variables.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.listeners.config import (
    DEFAULT_ASR_CHECKPOINT,
    DEFAULT_SER_CHECKPOINT,
    DEFAULT_TEXT_EMOTION_CHECKPOINT,
)
from models.weights import WEIGHT_KINDS

log = logging.getLogger(__name__)

APP_NAME = "opens2s-companion"
CONFIG_DIR_ENV = "OPENS2S_COMPANION_CONFIG_DIR"
DATA_DIR_ENV = "OPENS2S_COMPANION_DATA_DIR"
SETTINGS_FILE = "settings.json"
MAX_RECENT = 8
COMPUTE_DEVICES = ("auto", "cpu", "cuda")
VOCODER_BACKENDS = ("torch", "onnx")
# offered to users: "auto" (app/playback_plan.py, planned from this machine's measured speeds) or a
# core.voice.chunk_schedule.ChunkSchedule.preset name
VOCODER_SCHEDULES = ("auto", "fast", "smooth")


def config_dir() -> Path:
    from platformdirs import user_config_dir

    return Path(os.environ.get(CONFIG_DIR_ENV) or user_config_dir(APP_NAME))


def data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(os.environ.get(DATA_DIR_ENV) or user_data_dir(APP_NAME))


@dataclass(frozen=True)
class RecentCheckpoint:
    checkpoint: str
    decoder: str
    label: str = ""


@dataclass(frozen=True)
class AppSettings:
    """Everything the window remembers between runs. Invalid values raise ValueError at construction."""

    show_emotion: bool = True
    input_device: str | None = None  # name or index as text; None = the system default
    output_device: str | None = None
    vad_start_threshold: float = 0.5
    vad_stop_threshold: float = 0.35
    end_silence_ms: float = 700.0
    speculate_after_ms: float | None = 250.0  # speculative turn start after this pause; None = off
    semantic_end_of_turn: bool = True  # Smart Turn decides when a pause ends the turn (EndOfTurnConfig)
    eot_commit_prob: float = 0.8  # end-of-turn evidence that commits after the shortest pause
    eot_hold_prob: float = 0.3  # evidence at or below this waits for the longest pause
    eot_max_silence_ms: float = 1500.0  # longest pause inside a turn
    barge_in: bool = False
    barge_in_ms: float = 200.0
    system_prompt: str = ""  # "" = the model's default prompt
    temperature: float = 0.2
    top_p: float = 0.8
    max_text_tokens: int | None = None  # None = the checkpoint's default
    max_units: int | None = None
    compute_device: str = "auto"
    weights: str = "full"  # LM weight storage: full | int8 | int4 (models.weights); device support checked at load
    vocoder_backend: str = "torch"
    vocoder_schedule: str = "auto"  # auto: planned from measured speeds; fast: 8, 5, 5...; smooth: 16 units first
    push_to_talk: bool = False
    # listener checkpoints: a local dir or a hub id already in the local cache (never downloaded by the app);
    # None = the listener stays off ("disabled in config")
    asr_checkpoint: str | None = DEFAULT_ASR_CHECKPOINT
    ser_checkpoint: str | None = DEFAULT_SER_CHECKPOINT
    text_emotion_checkpoint: str | None = DEFAULT_TEXT_EMOTION_CHECKPOINT
    checkpoint: str | None = None  # the model loaded at start-up
    decoder: str | None = None
    recent: tuple[RecentCheckpoint, ...] = field(default=())

    def __post_init__(self) -> None:
        _check_types(self)
        if self.compute_device.split(":", 1)[0] not in COMPUTE_DEVICES:
            raise ValueError(f"compute_device must be one of {COMPUTE_DEVICES} or cuda:N, got {self.compute_device!r}")
        if self.weights not in WEIGHT_KINDS:
            raise ValueError(f"weights must be one of {WEIGHT_KINDS}, got {self.weights!r}")
        if self.vocoder_backend not in VOCODER_BACKENDS:
            raise ValueError(f"vocoder_backend must be one of {VOCODER_BACKENDS}, got {self.vocoder_backend!r}")
        if self.vocoder_schedule not in VOCODER_SCHEDULES:
            raise ValueError(f"vocoder_schedule must be one of {VOCODER_SCHEDULES}, got {self.vocoder_schedule!r}")
        self.engine_config()
        self.sampling_config()
        self.listeners_config()

    # -- the frozen configs the core builds from these ----------------------------------------------------
    def engine_config(self):
        from core.engine.config import AudioConfig, EngineConfig
        from core.turns.config import EndOfTurnConfig, VadConfig

        return EngineConfig(
            vad=VadConfig(
                start_threshold=self.vad_start_threshold,
                stop_threshold=self.vad_stop_threshold,
                end_silence_ms=self.end_silence_ms,
                speculate_after_ms=self.speculate_after_ms,
            ),
            end_of_turn=EndOfTurnConfig(semantic=self.semantic_end_of_turn, commit_prob=self.eot_commit_prob,
                                        hold_prob=self.eot_hold_prob, max_silence_ms=self.eot_max_silence_ms),
            audio=AudioConfig(input_device=_device(self.input_device), output_device=_device(self.output_device)),
            barge_in=self.barge_in,
            barge_in_ms=self.barge_in_ms,
        )

    def sampling_config(self, seed: int | None = None):
        from core.lm.sampling import SamplingConfig

        return SamplingConfig(
            temperature=self.temperature,
            top_p=self.top_p,
            max_text_tokens=self.max_text_tokens,
            max_units=self.max_units,
            seed=seed,
        )

    def listeners_config(self):
        from core.listeners.config import ListenersConfig

        return ListenersConfig(
            asr_checkpoint=self.asr_checkpoint,
            ser_checkpoint=self.ser_checkpoint,
            text_emotion_checkpoint=self.text_emotion_checkpoint,
            local_files_only=True,
        )

    @property
    def torch_device(self) -> str | None:
        return None if self.compute_device == "auto" else self.compute_device

    def with_recent(self, checkpoint: str, decoder: str, label: str = "") -> AppSettings:
        """These settings with (checkpoint, decoder) first in the recent list and as the start-up model."""
        entry = RecentCheckpoint(str(checkpoint), str(decoder), label)
        rest = tuple(r for r in self.recent if (r.checkpoint, r.decoder) != (entry.checkpoint, entry.decoder))
        return dataclasses.replace(
            self, checkpoint=entry.checkpoint, decoder=entry.decoder, recent=(entry, *rest)[:MAX_RECENT]
        )

    # -- JSON -------------------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["recent"] = [dataclasses.asdict(r) for r in self.recent]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AppSettings:
        """Known keys only; a value that fails validation falls back to its default (logged)."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        recent = values.get("recent")
        values["recent"] = tuple(
            RecentCheckpoint(r["checkpoint"], r["decoder"], r.get("label") if isinstance(r.get("label"), str) else "")
            for r in (recent if isinstance(recent, list) else ())
            if isinstance(r, dict) and _recent_ok(r)
        )[:MAX_RECENT]
        try:
            return cls(**values)
        except (TypeError, ValueError) as err:
            log.warning("settings: %s; using defaults for the invalid values", err)
        settings = cls()
        for key, value in values.items():
            try:
                settings = dataclasses.replace(settings, **{key: value})
            except (TypeError, ValueError) as err:
                log.warning("settings: ignoring %s=%r (%s)", key, value, err)
        return settings


def _check_types(settings: AppSettings) -> None:
    """ValueError naming the key when a value has the wrong JSON type (null for a text, a string for a number)."""
    hints = typing.get_type_hints(type(settings))
    for f in dataclasses.fields(settings):
        if f.name == "recent":
            continue
        value, hint = getattr(settings, f.name), hints[f.name]
        allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        ok = any(
            value is None if t is type(None)
            else isinstance(value, bool) if t is bool
            else isinstance(value, int | float) and not isinstance(value, bool) if t is float
            else isinstance(value, t) and not isinstance(value, bool) if t is int
            else isinstance(value, t)
            for t in allowed
        )
        if not ok:
            raise ValueError(f"{f.name} must be {getattr(hint, '__name__', hint)}, got {value!r}")


def _recent_ok(r: dict) -> bool:
    return isinstance(r.get("checkpoint"), str) and isinstance(r.get("decoder"), str)


def _device(value: str | None) -> int | str | None:
    if value is None or not str(value).strip():
        return None
    return int(value) if str(value).isdigit() else str(value)


class SettingsStore:
    """Loads and saves `AppSettings` as JSON (atomic replace)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.path = (directory or config_dir()) / SETTINGS_FILE
        self.load_warning: str | None = None  # one line for the window when the file could not be used

    def load(self) -> AppSettings:
        self.load_warning = None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return AppSettings()
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            return self._unusable(f"unreadable ({_one_line(err)})")
        if not isinstance(data, dict):
            return self._unusable(f"not a JSON object (a {type(data).__name__})")
        return AppSettings.from_json(data)

    def _unusable(self, why: str) -> AppSettings:
        kept = self.path.with_name(self.path.name + ".bad")
        try:
            os.replace(self.path, kept)
        except OSError:
            kept = self.path
        self.load_warning = f"The settings file was {why}; using defaults (the old file is kept as {kept})."
        log.warning("%s", self.load_warning)
        return AppSettings()

    def save(self, settings: AppSettings) -> None:
        """Atomic (temporary file, fsync, rename). Raises OSError (disk full, read-only) for the caller to show."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(settings.to_json(), indent=2))
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self.path)
        log.debug("settings saved to %s", self.path)


def _one_line(err: object) -> str:
    return " ".join(str(err).split())
