"""Which part of a reply's text the user actually heard, from how much of its audio was played.

Played audio -> units: GLM-4-Voice speech units are 12.5 per second, so `played_s * 12.5` units were heard
(once the vocoder has flushed, the exact ratio generated samples / units replaces the nominal rate).

Units -> text, from the interleave schedule as it was streamed: the model emits text, then the speech units
for that text, then more text, and so on. A *run* is a maximal sequence of `SpeechUnits` events with no text
in between; all text streamed before a run is taken as spoken by the end of that run. Between those anchors
(and the final anchor: all units <-> all text) characters are interpolated linearly, and the result is cut
back to the last whole word. If the runner streams text far ahead of its units, this over-estimates what was
heard by at most the text lead; it never invents text that was not generated.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from models.glm_constants import UNIT_RATE_HZ  # GLM-4-Voice speech tokenizer: 12.5 units per second of audio


@dataclass
class _Run:
    chars_before: int
    units_end: int


class HeardTextTracker:
    def __init__(self) -> None:
        self._text = ""
        self._units = 0
        self._runs: list[_Run] = []
        self._last_was_units = False
        self._finished = False

    @property
    def text(self) -> str:
        return self._text

    @property
    def n_units(self) -> int:
        return self._units

    def add_text(self, text: str) -> None:
        self._text += text
        self._last_was_units = False

    def add_units(self, n: int) -> None:
        if n <= 0:
            return
        self._units += n
        if self._last_was_units and self._runs:
            self._runs[-1].units_end = self._units
        else:
            self._runs.append(_Run(len(self._text), self._units))
        self._last_was_units = True

    def finish(self) -> None:
        """The reply is complete: all units speak all text."""
        self._finished = True

    def _anchors(self) -> tuple[list[float], list[float]]:
        units, chars = [0.0], [0.0]
        for run in self._runs:
            units.append(float(run.units_end))
            chars.append(float(max(run.chars_before, chars[-1])))
        if self._finished:
            units.append(float(self._units))
            chars.append(float(len(self._text)))
        return units, chars

    def heard_chars(self, units_heard: float) -> int:
        """Characters of `text` spoken by the first `units_heard` units (before word rounding)."""
        if self._finished and units_heard >= self._units:
            return len(self._text)
        units, chars = self._anchors()
        if units_heard <= 0 or len(units) < 2:
            return 0
        i = bisect.bisect_right(units, units_heard)
        if i >= len(units):
            return int(chars[-1])
        u0, u1, c0, c1 = units[i - 1], units[i], chars[i - 1], chars[i]
        frac = (units_heard - u0) / (u1 - u0) if u1 > u0 else 1.0
        return int(c0 + frac * (c1 - c0))

    def heard_text(self, units_heard: float) -> str:
        """The heard prefix of `text`, cut back to the last whole word."""
        n = self.heard_chars(units_heard)
        if n >= len(self._text):
            return self._text.strip()
        if n < len(self._text) and not self._text[n].isspace():
            cut = self._text.rfind(" ", 0, n + 1)
            n = max(cut, 0)
        return self._text[:n].strip()


def units_heard(played_s: float, generated_s: float, units_vocoded: int, vocoder_flushed: bool) -> float:
    """Units covered by `played_s` seconds of reply audio."""
    if vocoder_flushed and generated_s > 0:
        return played_s / generated_s * units_vocoded
    return played_s * UNIT_RATE_HZ
