"""App settings: one frozen, validated dataclass stored as JSON in the platform's config dir (platformdirs).

`AppSettings` is validated by building the frozen engine / sampling / listener configs from it, so a value the
engine would refuse is refused here with the same message. Paths can be redirected for tests and portable use
with the `OPENS2S_COMPANION_CONFIG_DIR` / `OPENS2S_COMPANION_DATA_DIR` environment variables.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.flags import replace_in
from core.files import UnusableFile, read_bounded
from core.options import HELP, default_of

if typing.TYPE_CHECKING:
    from app.config import CompanionConfig

log = logging.getLogger(__name__)

APP_NAME = "opens2s-companion"
CONFIG_DIR_ENV = "OPENS2S_COMPANION_CONFIG_DIR"
DATA_DIR_ENV = "OPENS2S_COMPANION_DATA_DIR"
SETTINGS_FILE = "settings.json"
MAX_RECENT = 8
MAX_SETTINGS_BYTES = 1 << 20  # a settings file is a few KB; anything larger is not one
CONFIG_PATH = "config_path"  # field metadata: where a mirrored setting sits in CompanionConfig


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


# 2: only the mirrored fields the user changed are written (1, unmarked: every field, defaults included)
SETTINGS_FORMAT = 2
# the defaults of mirrored fields that changed since format 1: an old file holding one of these values held the
# default, not a choice, and takes today's default instead
OLD_DEFAULTS: dict[str, Any] = {"eot_max_silence_ms": 1500.0, "barge_in_ms": 200.0}
# a setting that was replaced: old key -> {old value: {new key: new value}} ({}: today's defaults); applied in any
# format (a format-2 file holds the old key only when the user chose it). Issue 33: the barge-in switch became the
# duplex mode; it was off by default, so "on" was a choice (made for headphones, as the app said) and "off" was not
RENAMED: dict[str, dict[Any, dict[str, Any]]] = {"barge_in": {True: {"duplex": "headphones"}, False: {}}}
_NOTHING = object()


def mirror(path: str) -> Any:
    """A settings field that mirrors the `CompanionConfig` field at `path` ("engine.vad.end_silence_ms"): its
    default and help are that field's, and `AppSettings.config()` writes it back there."""
    from app.config import CompanionConfig

    owner: Any = CompanionConfig
    *parents, name = path.split(".")
    for part in parents:
        owner = typing.get_type_hints(owner)[part]
    f = {f.name: f for f in dataclasses.fields(owner)}[name]
    return field(default=default_of(owner, name), metadata={HELP: f.metadata.get(HELP, ""), CONFIG_PATH: path})


@dataclass(frozen=True)
class AppSettings:
    """Everything the window remembers between runs: the config fields it offers (each a `mirror` of a
    `CompanionConfig` field, so defaults and help are defined once, by the stage that owns them) plus what only the
    window has. Invalid values raise ValueError at construction. The JSON file keeps these flat names."""

    show_emotion: bool = True
    input_device: str | None = None  # name or index as text; None = the system default
    output_device: str | None = None
    vad_start_threshold: float = mirror("engine.vad.start_threshold")
    vad_stop_threshold: float = mirror("engine.vad.stop_threshold")
    end_silence_ms: float = mirror("engine.vad.end_silence_ms")
    speculate_after_ms: float | None = mirror("engine.vad.speculate_after_ms")
    semantic_end_of_turn: bool = mirror("engine.end_of_turn.semantic")
    eot_commit_score: float = mirror("engine.end_of_turn.commit_score")
    eot_full_duplex_commit_score: float = mirror("engine.end_of_turn.full_duplex_commit_score")
    eot_max_silence_ms: float = mirror("engine.end_of_turn.max_silence_ms")
    duplex: str = mirror("engine.duplex")  # one of core.audio.duplex.DUPLEX_CHOICES ("auto": from the output device)
    interruption: str = mirror("engine.interruption")
    backchannel_ms: float = mirror("engine.backchannel_ms")
    barge_in_ms: float = mirror("engine.barge_in_ms")
    system_prompt: str = ""  # "" = the model's default prompt
    temperature: float = mirror("sampling.temperature")
    top_p: float = mirror("sampling.top_p")
    max_text_tokens: int | None = mirror("sampling.max_text_tokens")
    max_units: int | None = mirror("sampling.max_units")
    compute_device: str = mirror("compute.device")
    weights: str = mirror("compute.weights")
    vocoder_backend: str = mirror("voice.backend")
    vocoder_schedule: str = mirror("voice.schedule")
    push_to_talk: bool = False
    # listener checkpoints: a local dir or a hub id already in the local cache (never downloaded by the app);
    # None = the listener stays off ("disabled in config")
    asr_checkpoint: str | None = mirror("listeners.asr_checkpoint")
    ser_checkpoint: str | None = mirror("listeners.ser_checkpoint")
    text_emotion_checkpoint: str | None = mirror("listeners.text_emotion_checkpoint")
    checkpoint: str | None = None  # the model loaded at start-up
    decoder: str | None = None
    recent: tuple[RecentCheckpoint, ...] = field(default=())

    def __post_init__(self) -> None:
        _check_types(self)
        self.config()

    def config(self, seed: int | None = None) -> CompanionConfig:
        """The `CompanionConfig` these settings describe (the window's listeners never download)."""
        from app.config import CompanionConfig

        config = CompanionConfig()
        by_owner: dict[str, dict[str, str]] = {}  # config path -> {field: setting}; one owner is validated at once
        for f in dataclasses.fields(self):
            if CONFIG_PATH in f.metadata:
                owner, _, name = f.metadata[CONFIG_PATH].rpartition(".")
                by_owner.setdefault(owner, {})[name] = f.name
        for owner, names in by_owner.items():
            try:
                config = replace_in(config, owner, {name: getattr(self, key) for name, key in names.items()})
            except ValueError as err:  # name the settings, not the config fields
                raise ValueError(f"{', '.join(names.values())}: {err}") from None
        audio = dataclasses.replace(config.engine.audio, input_device=_device(self.input_device),
                                    output_device=_device(self.output_device))
        return dataclasses.replace(
            config,
            model=dataclasses.replace(config.model, checkpoint=self.checkpoint, decoder=self.decoder),
            engine=dataclasses.replace(config.engine, audio=audio),
            sampling=dataclasses.replace(config.sampling, seed=seed),
            listeners=dataclasses.replace(config.listeners, local_files_only=True),
        )

    def with_recent(self, checkpoint: str, decoder: str, label: str = "") -> AppSettings:
        """These settings with (checkpoint, decoder) first in the recent list and as the start-up model."""
        entry = RecentCheckpoint(str(checkpoint), str(decoder), label)
        rest = tuple(r for r in self.recent if (r.checkpoint, r.decoder) != (entry.checkpoint, entry.decoder))
        return dataclasses.replace(
            self, checkpoint=entry.checkpoint, decoder=entry.decoder, recent=(entry, *rest)[:MAX_RECENT]
        )

    # -- JSON -------------------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The window's own fields, and the mirrored config fields the user changed: a mirrored field left at its
        default is not written, so a later release's default reaches it."""
        data = dataclasses.asdict(self)
        data["recent"] = [dataclasses.asdict(r) for r in self.recent]
        for f in dataclasses.fields(self):
            if CONFIG_PATH in f.metadata and data[f.name] == f.default:
                del data[f.name]
        data["format"] = SETTINGS_FORMAT
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], problems: list[str] | None = None) -> AppSettings:
        """Known keys only; a value that fails validation falls back to its default (logged, and added to
        `problems` by name)."""
        problems = [] if problems is None else problems
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in _renamed(data, problems).items() if k in names}
        if data.get("format") != SETTINGS_FORMAT:  # written when every field was saved, defaults included
            values = {k: v for k, v in values.items() if OLD_DEFAULTS.get(k, _NOTHING) != v}
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
                log.warning("settings: ignoring %s=%.80r (%s)", key, value, err)
                problems.append(key)
        return settings


def _renamed(data: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    """`data` with replaced settings (RENAMED) translated; a new key already present wins. An old value that is
    none of the known ones is a problem (its new setting keeps its default)."""
    data = dict(data)
    for old, table in RENAMED.items():
        if old not in data:
            continue
        value = data.pop(old)
        new = next((new for k, new in table.items() if type(k) is type(value) and k == value), None)
        if new is None:
            log.warning("settings: ignoring %s=%.80r (it must be one of %s)", old, value, ", ".join(map(str, table)))
            problems.append(old)
            continue
        for key, replacement in new.items():
            data.setdefault(key, replacement)
    return data


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
            raise ValueError(f"{f.name} must be {getattr(hint, '__name__', hint)}, got {value!r:.80}")
        if isinstance(value, float) and not math.isfinite(value):  # JSON's NaN / Infinity, or 1e999
            raise ValueError(f"{f.name} must be a finite number, got {value!r}")


def _recent_ok(r: dict) -> bool:
    return isinstance(r.get("checkpoint"), str) and isinstance(r.get("decoder"), str)


def _device(value: str | None) -> int | str | None:
    if value is None or not str(value).strip():
        return None
    return int(value) if str(value).isdigit() else str(value)


class SettingsStore:
    """Loads and saves `AppSettings` as JSON (atomic replace). Loading never fails and never waits: a file that
    is not a plain file (a FIFO, a device, a folder), larger than MAX_SETTINGS_BYTES, not UTF-8 JSON, nested too
    deeply, or not an object is moved aside to `settings.json.bad` (left in place if it cannot be moved) and the
    defaults are used; a bad value falls back to its default. Either way `load_warning` is one line to show."""

    def __init__(self, directory: Path | None = None) -> None:
        self.path = (directory or config_dir()) / SETTINGS_FILE
        self.load_warning: str | None = None  # one line for the window when the file could not be used

    def load(self) -> AppSettings:
        self.load_warning = None
        try:
            raw = read_bounded(self.path, MAX_SETTINGS_BYTES)
        except FileNotFoundError:
            return AppSettings()
        except UnusableFile as why:
            return self._unusable(str(why))
        except OSError as err:
            return self._unusable(f"unreadable ({_one_line(err)})")
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            return self._unusable(f"unreadable ({_one_line(err)[:200]})")
        except ValueError:  # an integer of over 4300 digits
            return self._unusable("unreadable (a number with too many digits)")
        except RecursionError:
            return self._unusable("nested too deeply to be settings")
        if not isinstance(data, dict):
            return self._unusable(f"not a JSON object (a {type(data).__name__})")
        problems: list[str] = []
        settings = AppSettings.from_json(data, problems)
        if problems:
            shown = ", ".join(problems[:8]) + (f" and {len(problems) - 8} more" if len(problems) > 8 else "")
            self.load_warning = f"Some settings were invalid and use their defaults: {shown} ({self.path})."
            log.warning("%s", self.load_warning)
        return settings

    def _unusable(self, why: str) -> AppSettings:
        kept = self.path.with_name(self.path.name + ".bad")
        try:
            os.replace(self.path, kept)
            where = f"the old file is kept as {kept}"
        except OSError:
            where = f"{self.path} was left as it is"
        self.load_warning = f"The settings file was {why}; using defaults ({where})."
        log.warning("%s", self.load_warning)
        return AppSettings()

    def save(self, settings: AppSettings) -> None:
        """Atomic (a temporary file of this process, fsync, rename). Raises OSError (disk full, read-only, a
        folder in the way) for the caller to show."""
        from core.files import write_text_atomic
        from models.errors import UserError

        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            write_text_atomic(self.path, json.dumps(settings.to_json(), indent=2))
        except UserError as err:  # e.g. a folder named settings.json that could not be moved aside
            raise OSError(str(err)) from None
        log.debug("settings saved to %s", self.path)


def _one_line(err: object) -> str:
    return " ".join(str(err).split())
