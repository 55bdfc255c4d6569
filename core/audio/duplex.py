"""How the microphone and the speaker share the room: the duplex mode, and "auto" resolved from the output device.

    speakers    full duplex with echo cancellation (core.audio.echo): the app's own voice is removed from the
                microphone signal, so the user can interrupt on laptop speakers
    headphones  full duplex, no echo cancellation (nothing the app plays reaches the microphone)
    half        the microphone is ignored while the app speaks (no barge-in)
    auto        headphones when the output device's name says so, else speakers; half when the echo canceller
                cannot be loaded

The OS tells little: PortAudio reports a device name only, so "auto" reads the name (macOS "External Headphones",
Windows "Headphones (Realtek …)", a Bluetooth headset's name). Laptop speakers and unknown devices get the
echo canceller, which costs little and is harmless when there is no echo.
"""

from __future__ import annotations

import enum
import logging
import re

log = logging.getLogger(__name__)

DUPLEX_CHOICES = ("auto", "speakers", "headphones", "half")
# words in a device name that mean the sound goes into the user's ears, not the room
_HEADPHONE_WORDS = re.compile(r"head ?phones?|head ?set|ear ?phones?|ear ?buds?|airpods|buds\b|in-ear|hands-?free",
                              re.IGNORECASE)


class DuplexMode(enum.Enum):
    SPEAKERS = "speakers"
    HEADPHONES = "headphones"
    HALF = "half"

    @property
    def full(self) -> bool:
        """The microphone stays live while the app speaks (barge-in)."""
        return self is not DuplexMode.HALF

    @property
    def cancels_echo(self) -> bool:
        return self is DuplexMode.SPEAKERS

    @property
    def label(self) -> str:
        return DUPLEX_LABELS[self.value]


DUPLEX_LABELS = {
    "auto": "Automatic (from the output device)",
    "speakers": "Speakers (echo cancellation)",
    "headphones": "Headphones",
    "half": "Half-duplex (mic off while speaking)",
}


def looks_like_headphones(device_name: str) -> bool:
    return bool(_HEADPHONE_WORDS.search(device_name or ""))


def resolve_duplex(requested: str, output_name: str, echo_error: str | None) -> tuple[DuplexMode, str]:
    """(mode, why) for `requested` (one of DUPLEX_CHOICES). `echo_error`: why the echo canceller cannot run (None:
    it can). "speakers" without a canceller falls back to half duplex (a warning says so): on speakers, full
    duplex without cancellation interrupts itself."""
    if requested not in DUPLEX_CHOICES:
        raise ValueError(f"duplex must be one of {', '.join(DUPLEX_CHOICES)}, got {requested!r}")
    if requested == "auto":
        if looks_like_headphones(output_name):
            return DuplexMode.HEADPHONES, f"the output device {output_name!r} looks like headphones"
        requested, why = "speakers", f"the output device {output_name!r} may be speakers"
    else:
        why = "chosen in the settings"
    if requested == "speakers" and echo_error is not None:
        log.warning("echo cancellation unavailable (%s): half duplex", echo_error)
        return DuplexMode.HALF, f"echo cancellation is unavailable ({echo_error}); the mic is off while the app speaks"
    return DuplexMode(requested), why
