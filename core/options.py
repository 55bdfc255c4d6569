"""One definition per option: a config dataclass field carries its default and its help line.

`opt(default, "help")` is `dataclasses.field` with the help in `metadata`, the convention transformers'
`HfArgumentParser` also reads. The command-line flags (`app/flags.py`) and the window's settings tooltips are
derived from these fields, so a default or a help line is never written twice.
"""

from __future__ import annotations

import dataclasses
from typing import Any

HELP = "help"
CHOICES = "choices"


def opt(default: Any, help: str = "", *, choices: tuple[Any, ...] | None = None) -> Any:  # noqa: A002
    """A dataclass field with its help line (what the value means, in the user's words) and, for a value from a
    fixed set, its `choices` (the owner's __post_init__ still validates)."""
    metadata = {HELP: help} if choices is None else {HELP: help, CHOICES: tuple(choices)}
    return dataclasses.field(default=default, metadata=metadata)


def default_of(cls: type, name: str) -> Any:
    """The default of `cls.name` (a default_factory is called: nested configs)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            raise KeyError(f"{cls.__name__}.{name} has no default")
    raise KeyError(f"{cls.__name__} has no field {name!r}")


def check(cond: bool, msg: str) -> None:
    """ValueError(msg) unless `cond`: the one-line validation the config dataclasses' __post_init__ use."""
    if not cond:
        raise ValueError(msg)
