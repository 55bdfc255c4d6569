"""A sounddevice-like backend with no hardware, for machines without a sound card: text-only mode.

The input delivers digital silence and the output discards what it is given, both paced in real time on
their own threads (app.window.paced_audio), so the engine runs unchanged (typed turns get replies; nothing is heard).
The window switches to it only when the real devices cannot be opened, and says so.
"""

from __future__ import annotations

import logging

from app.window.paced_audio import PacedStream
from core.audio.devices import DEVICE_RATE_HZ

log = logging.getLogger(__name__)

NULL_RATE_HZ = DEVICE_RATE_HZ
NULL_DEVICE_NAME = "no sound device (text-only)"


class NullPortAudioError(Exception):
    pass


class _NullStream(PacedStream):
    NAME = "null"


class NullAudio:
    """`query_devices`, `InputStream`, `OutputStream` like sounddevice; one silent device."""

    PortAudioError = NullPortAudioError

    def query_devices(self, device: int | str | None = None, kind: str | None = None) -> dict:
        return {
            "name": NULL_DEVICE_NAME,
            "index": 0,
            "max_input_channels": 1,
            "max_output_channels": 1,
            "default_samplerate": float(NULL_RATE_HZ),
        }

    def InputStream(self, **kw: object) -> _NullStream:  # noqa: N802 (sounddevice's name)
        return _NullStream("input", **kw)

    def OutputStream(self, **kw: object) -> _NullStream:  # noqa: N802 (sounddevice's name)
        return _NullStream("output", **kw)
