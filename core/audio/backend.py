"""The audio backend seam: the `sounddevice` module or a stand-in (app.fake_audio in tests and benchmarks,
app.null_audio when text-only). Devices (core.audio.devices) and the engine open streams through it; the
behaviour each method promises is in docs/contracts.md."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import numpy as np

AudioCallback = Callable[[np.ndarray, int, object, object], None]  # (data [frames, ch], frames, time, status)


class AudioStream(Protocol):
    active: bool
    latency: float | tuple[float, float]

    def start(self) -> None: ...

    def abort(self) -> None: ...

    def close(self) -> None: ...


class AudioBackend(Protocol):
    def query_devices(
        self, device: int | str | None = None, kind: str | None = None
    ) -> Mapping[str, object] | list[Mapping[str, object]]: ...

    def InputStream(  # noqa: N802 (sounddevice's name)
        self,
        *,
        samplerate: float,
        blocksize: int,
        device: int | str | None,
        channels: int,
        dtype: str,
        callback: AudioCallback,
        finished_callback: Callable[[], None],
    ) -> AudioStream: ...

    def OutputStream(  # noqa: N802 (sounddevice's name)
        self,
        *,
        samplerate: float,
        blocksize: int,
        device: int | str | None,
        channels: int,
        dtype: str,
        callback: AudioCallback,
        finished_callback: Callable[[], None],
    ) -> AudioStream: ...
