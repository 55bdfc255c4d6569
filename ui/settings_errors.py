"""A refused setting in the Settings dialog's own words: the core's validation message names config fields
("need 0 < stop_threshold <= start_threshold < 1, got 0.9, 0.5"); the dialog shows its labels instead ("'Speech end
sensitivity' must be at most 'Speech sensitivity' (0.9 > 0.5)") and marks those fields.

`AppSettings.config()` prefixes the message with the settings it validated together ("vad_start_threshold,
vad_stop_threshold, …: need …"); each setting mirrors a config field (`CONFIG_PATH`), whose last name is what the
core's message says. The core's messages stay as they are (the terminal and the log read them).
"""

from __future__ import annotations

import dataclasses
import re

from PySide6.QtWidgets import QWidget

from app.settings import CONFIG_PATH, AppSettings

_NUMBER = r"(-?[\d.]+(?:e-?\d+)?)"
_ORDER = re.compile(rf"need 0 < (\w+) <= (\w+) < 1, got {_NUMBER}, {_NUMBER}")
_PREFIX = re.compile(r"^([a-z_]+(?:, [a-z_]+)*): (.*)$", re.S)


def config_names() -> dict[str, str]:
    """{setting: the config field name the core's messages use}, e.g. vad_stop_threshold -> stop_threshold."""
    return {f.name: f.metadata[CONFIG_PATH].rpartition(".")[2] for f in dataclasses.fields(AppSettings)
            if CONFIG_PATH in f.metadata}


def explain(message: str, labels: dict[str, str]) -> tuple[str, list[str]]:
    """(the message in the dialog's words, the settings it is about) for a ValueError from `AppSettings`.

    `labels` maps settings to the dialog's labels. Settings the message does not name: all the prefixed settings
    that have a label (the dialog cannot tell which one it was)."""
    prefix = _PREFIX.match(message)
    candidates = prefix.group(1).split(", ") if prefix else list(labels)
    text = prefix.group(2) if prefix else message
    names = config_names()
    named = [s for s in candidates if s in labels and re.search(rf"\b{re.escape(names.get(s, s))}\b", text)]
    by_name = {names.get(s, s): s for s in named}
    order = _ORDER.search(text)
    if order and order.group(1) in by_name and order.group(2) in by_name:
        low, high = by_name[order.group(1)], by_name[order.group(2)]
        a, b = order.group(3), order.group(4)
        if float(a) > float(b):
            return f"'{labels[low]}' must be at most '{labels[high]}' ({a} > {b})", [low, high]
        return f"'{labels[low]}' and '{labels[high]}' must be between 0 and 1 (got {a}, {b})", [low, high]
    for name, setting in sorted(by_name.items(), key=lambda kv: -len(kv[0])):  # longest first: no partial hits
        text = re.sub(rf"\b{re.escape(name)}\b", f"'{labels[setting]}'", text)
    if named:
        return text, named
    return text, [s for s in candidates if s in labels]


def mark_invalid(widget: QWidget, invalid: bool) -> None:
    """The red border of a refused field (assets/style.qss: [invalid="true"])."""
    if bool(widget.property("invalid")) == invalid:
        return
    widget.setProperty("invalid", invalid)
    for w in (widget, *widget.findChildren(QWidget)):  # a spin box's text box is styled through its parent
        w.style().unpolish(w)
        w.style().polish(w)


def on_change(widget: QWidget, slot) -> None:
    """`slot()` when the user changes `widget`'s value (any of the dialog's kinds of field)."""
    for signal in ("valueChanged", "currentIndexChanged", "textChanged", "toggled"):
        if hasattr(widget, signal):
            getattr(widget, signal).connect(lambda *_: slot())
            return
