"""Config files are data: YAML/JSON safe-loaded into frozen dataclasses, with one-line errors naming the key."""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from core.files import UnusableFile, read_bounded
from models.errors import UserError

T = TypeVar("T")


class ConfigError(UserError):
    """A config file that cannot be read or has a wrong key or value (the message names the file and key)."""


MAX_CONFIG_BYTES = 1024 * 1024  # a make-data config is a few hundred bytes; a seeds file a few KB
MAX_DEPTH = 32  # nesting levels of mappings and lists (a config needs 3)
MAX_INT = 2**63 - 1


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses nesting beyond MAX_DEPTH while composing (deep input would exhaust the stack)."""

    depth = 0

    def compose_node(self, parent, index):  # noqa: ANN001, ANN201 - PyYAML's signature
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _TooDeep
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _TooDeep(Exception):
    pass


def read_mapping(path: Path, max_bytes: int = MAX_CONFIG_BYTES) -> dict[str, Any]:
    """Safe-load a YAML (or JSON, a YAML subset) file into a dict; errors name the file and line.

    Only a regular file of at most `max_bytes` is read (a device such as /dev/zero, or a FIFO, is refused before
    reading); nesting deeper than MAX_DEPTH, binary content and unreadable numbers are one-line errors too."""
    path = Path(path)
    try:
        raw = read_bounded(path, max_bytes)
    except UnusableFile as err:
        raise ConfigError(f"{path}: {err}; give a YAML or JSON config file") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config ({err.strerror or err})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start}); is it a binary file?") from None
    try:
        data = json.loads(text) if str(path).endswith(".json") else yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: line {err.lineno}: not valid JSON ({err.msg})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or getattr(err, "reason", None) or "not valid YAML"
        raise ConfigError(f"{path}: {where}{problem}") from None
    except (_TooDeep, RecursionError):
        raise ConfigError(f"{path}: nested more than {MAX_DEPTH} levels deep; a config is a flat mapping of "
                          "sections") from None
    except ValueError as err:  # a number of more than 4300 digits, an impossible date
        reason = "a number is too long" if "digits" in str(err) else " ".join(str(err).split())[:80]
        raise ConfigError(f"{path}: a value cannot be read ({reason})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, got {type(data).__name__}")
    return data


def build(cls: type[T], data: Any, where: str) -> T:
    """Build dataclass `cls` from a mapping; unknown keys, wrong types and failed checks name `where.key`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{_key(where, unknown[0])}: unknown key (known: {', '.join(sorted(names))})")
    kwargs = {name: _convert(hints[name], value, _key(where, name)) for name, value in data.items()}
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{where or 'config'}: {err}") from None


def to_plain(obj: Any) -> Any:
    """A dataclass tree as JSON-ready dicts/lists (tuples become lists)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj


def _key(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _convert(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _convert(option, value, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0])
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: must be a list, got {_show(value)}")
        (item,) = typing.get_args(hint)[:1]
        return tuple(_convert(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(hint):
        return build(hint, value, key)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: must be true or false, got {_show(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: must be an integer, got {_show(value)}")
        if abs(value) > MAX_INT:
            raise ConfigError(f"{key}: {_show(value)} is out of range (at most {MAX_INT})")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: must be a number, got {_show(value)}")
        if isinstance(value, int) and abs(value) > MAX_INT:
            raise ConfigError(f"{key}: {_show(value)} is out of range")
        if not math.isfinite(value):
            raise ConfigError(f"{key}: must be a finite number, got {value}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: must be a string, got {_show(value)}")
        return value
    if typing.get_origin(hint) is typing.Literal:
        if value not in typing.get_args(hint):
            raise ConfigError(f"{key}: must be one of {list(typing.get_args(hint))}, got {_show(value)}")
        return value
    raise TypeError(f"unsupported config type {hint!r} for {key}")


def _show(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return f"a number of about {int(value.bit_length() * 0.30103) + 1} digits"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
