"""Command-line flags derived from the config dataclasses: one flag per field, its help and default read from the
field (`core.options.opt`), so nothing is written twice.

A `FlagGroup` names where a config sits inside `CompanionConfig` (`"engine.vad"`), its class, a flag prefix and
which fields a command offers. `add_flags` adds them to a parser; `apply_flags` returns the config with the
flags the user gave replaced (flags not given keep the base config's value, so settings and defaults stay one
source). Invalid values raise `UserError` naming the flag. A `FlagAlias` keeps an old flag working as a fixed
value of a field's flag (`--barge-in` = `--duplex headphones`).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core.options import CHOICES, HELP
from models.errors import UserError

_DEST = "cfg::"


@dataclass(frozen=True)
class FlagAlias:
    """`flag` (no value) means `field` = `value`; the last of it and the field's own flag wins."""

    flag: str  # "--barge-in"
    field: str
    value: Any
    help: str


@dataclass(frozen=True)
class FlagGroup:
    path: str  # dotted attribute path inside the root config ("" = the root itself)
    cls: type
    prefix: str = ""  # e.g. "eot-" -> --eot-commit-prob
    fields: tuple[str, ...] | None = None  # None: every field that has a help line
    title: str | None = None  # argparse group title
    aliases: tuple[FlagAlias, ...] = ()


def flag_name(group: FlagGroup, field: str) -> str:
    return "--" + group.prefix + field.replace("_", "-")


def _fields(group: FlagGroup) -> list[dataclasses.Field]:
    by_name = {f.name: f for f in dataclasses.fields(group.cls)}
    if group.fields is None:
        return [f for f in by_name.values() if f.metadata.get(HELP)]
    missing = [n for n in group.fields if n not in by_name]
    if missing:
        raise KeyError(f"{group.cls.__name__} has no field(s) {missing}")
    return [by_name[n] for n in group.fields]


def _base_types(hint: Any) -> tuple[list[Any], bool]:
    """(the non-None types of a hint, whether None is allowed)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = list(typing.get_args(hint))
        return [a for a in args if a is not type(None)], type(None) in args
    return [hint], False


def _converter(name: str, hint: Any):
    kinds, nullable = _base_types(hint)

    def convert(text: str) -> Any:
        if nullable and text.lower() in ("none", "off", "default"):
            return None
        for kind in kinds:
            if kind is int and (text.isdigit() or (text[:1] == "-" and text[1:].isdigit())):
                return int(text)
            if kind is float:
                try:
                    return float(text)
                except ValueError:
                    continue
            if kind is str:
                return text
        raise argparse.ArgumentTypeError(f"{text!r} is not a {' or '.join(k.__name__ for k in kinds)}")

    convert.__name__ = name  # argparse names the flag's type in its error message
    return convert


def add_flags(parser: argparse.ArgumentParser, groups: Iterable[FlagGroup]) -> None:
    for group in groups:
        target = parser.add_argument_group(group.title) if group.title else parser
        hints = typing.get_type_hints(group.cls)
        for f in _fields(group):
            dest = f"{_DEST}{group.path}::{f.name}"
            default = f.default if f.default is not dataclasses.MISSING else None
            help_text = f.metadata.get(HELP, "")
            if hints[f.name] is bool:
                target.add_argument(flag_name(group, f.name), dest=dest, action=argparse.BooleanOptionalAction,
                                    default=argparse.SUPPRESS, help=f"{help_text} (default: {_show(default)})")
                continue
            convert, choices = _converter(f.name, hints[f.name]), f.metadata.get(CHOICES)
            shown = "" if default is None else f" (default: {_show(default)})"
            target.add_argument(flag_name(group, f.name), dest=dest, type=convert, choices=choices,
                                default=argparse.SUPPRESS, help=f"{help_text}{shown}",
                                metavar=None if choices else f.name.rsplit("_", 1)[-1].upper())
        for alias in group.aliases:
            if alias.field not in {f.name for f in _fields(group)}:
                raise KeyError(f"alias {alias.flag}: {alias.field} is not a flag of this group")
            target.add_argument(alias.flag, dest=f"{_DEST}{group.path}::{alias.field}", action="store_const",
                                const=alias.value, default=argparse.SUPPRESS, help=alias.help)


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def given(args: argparse.Namespace) -> dict[tuple[str, str], Any]:
    """{(path, field): value} for every derived flag the user gave."""
    out = {}
    for key, value in vars(args).items():
        if key.startswith(_DEST):
            path, name = key[len(_DEST):].split("::")
            out[(path, name)] = value
    return out


def apply_flags(config: Any, args: argparse.Namespace, groups: Iterable[FlagGroup]) -> Any:
    """`config` with the given flags' values replaced (validated by the dataclasses; UserError names the flag)."""
    names = {(g.path, f.name): flag_name(g, f.name) for g in groups for f in _fields(g)}
    changes: dict[str, dict[str, Any]] = {}
    for (path, name), value in given(args).items():
        changes.setdefault(path, {})[name] = value
    for path, values in changes.items():
        try:
            config = replace_in(config, path, values)
        except (TypeError, ValueError) as err:
            flags = ", ".join(names[(path, n)] for n in values)
            raise UserError(f"invalid option ({flags}): {err}") from None
    return config


def replace_in(root: Any, path: str, values: dict[str, Any]) -> Any:
    """`root` with the fields `values` of the config at `path` replaced ("" = root itself)."""
    if not path:
        return dataclasses.replace(root, **values)
    head, _, rest = path.partition(".")
    return dataclasses.replace(root, **{head: replace_in(getattr(root, head), rest, values)})

