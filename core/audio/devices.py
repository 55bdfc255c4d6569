"""Audio devices through an injected `sounddevice`-like backend: capture into a bounded queue, playback from a
jitter buffer, both at the device's native rate. Callbacks only copy; all DSP runs on engine threads.

The backend is `core.audio.backend.AudioBackend`: `query_devices(device, kind)`, `InputStream`, `OutputStream`
(sounddevice signatures: samplerate, blocksize, device, channels, dtype, callback, finished_callback). The
`sounddevice` module is one; `testing.fake_audio` (tests, benchmarks) and `app.window.null_audio` (text-only) are
others.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np
import soxr

from core.audio.backend import AudioBackend, AudioStream
from core.audio.playout import PlayoutBuffer
from models.errors import DeviceError
from models.rates import SPEECH_RATE_HZ

log = logging.getLogger(__name__)

DEVICE_RATE_HZ = 48000  # an output device's rate when the backend reports none
CLOSE_TIMEOUT_S = 2.0  # a PortAudio stop can hang on a dead server; never wait longer than this


def device_info(backend: AudioBackend, device: int | str | None, kind: str) -> dict:
    """The backend's device dict for `device` (None = default) of `kind` ("input" | "output")."""
    flag = "--input-device" if kind == "input" else "--output-device"
    try:
        info = backend.query_devices(device, kind)
    except Exception as err:  # sounddevice raises ValueError or PortAudioError here
        what = f"{kind} device {device!r}" if device is not None else f"default {kind} device"
        raise DeviceError(
            f"No {what} is available ({err}); connect one or pick another with {flag} (see `main.py devices`)."
        ) from err
    channels = info.get(f"max_{kind}_channels", 0)
    if channels < 1:
        raise DeviceError(f"Device {info.get('name', device)!r} has no {kind} channels; pick another with {flag}.")
    return dict(info)


def _close_stream(stream: AudioStream, name: str) -> None:
    """abort + close, bounded by CLOSE_TIMEOUT_S even if PortAudio hangs (dead server)."""

    def _do() -> None:
        for method in ("abort", "close"):
            try:
                getattr(stream, method)()
            except Exception as err:  # a lost device makes these raise; closing must still finish
                log.debug("%s %s: %s", name, method, err)

    t = threading.Thread(target=_do, name=f"close-{name}", daemon=True)
    t.start()
    t.join(CLOSE_TIMEOUT_S)
    if t.is_alive():
        log.warning("closing the %s stream did not finish within %.1f s; abandoned", name, CLOSE_TIMEOUT_S)


class PlayedBlocks(Protocol):
    """Where the speaker's callback hands what it played (core.audio.echo.EchoReference): copy, never block."""

    def push(self, dac_t: float, block: np.ndarray) -> None: ...


class _DeviceStream:
    """What capture and playback share: open a mono float32 stream at the device's native (or a chosen) rate,
    notice loss through PortAudio's finished callback (`lost`, and `on_lost()` when set), close within
    CLOSE_TIMEOUT_S."""

    KIND = ""  # "input" | "output"
    FALLBACK_RATE_HZ = 0  # when the backend reports no default rate
    ACTION = ""  # for the error message: "capture" | "playback"

    def __init__(self, backend: AudioBackend, device: int | str | None, rate_hz: int | None, block_ms: float) -> None:
        self._backend = backend
        self._device = device
        self._want_rate = rate_hz
        self._block_ms = block_ms
        self.rate_hz = 0
        self.name = ""
        self.lost = threading.Event()
        self.on_lost: Callable[[], None] | None = None  # called on PortAudio's thread: must not block
        self.last_callback_t = 0.0  # time.monotonic() of the latest callback (0 before the first)
        self._opened_t = 0.0
        self._closing = False
        self._stream: AudioStream | None = None

    def open(self) -> None:
        info = device_info(self._backend, self._device, self.KIND)
        self.name = str(info.get("name", self._device))
        self.rate_hz = int(self._want_rate or round(info.get("default_samplerate", self.FALLBACK_RATE_HZ)))
        factory = self._backend.InputStream if self.KIND == "input" else self._backend.OutputStream
        try:
            self._stream = factory(
                samplerate=self.rate_hz,
                blocksize=int(self.rate_hz * self._block_ms / 1000),
                device=self._device,
                channels=1,
                dtype="float32",
                callback=self._callback,
                finished_callback=self._finished,
            )
            self._opened_t = time.monotonic()
            self._stream.start()
        except Exception as err:  # PortAudioError / ValueError for a refused setting
            self._stream = None
            raise DeviceError(
                f"{self.KIND.capitalize()} device {self.name!r} refused {self.rate_hz} Hz mono {self.ACTION} ({err}); "
                f"try its native rate (omit --{self.KIND}-rate) or another --{self.KIND}-device."
            ) from err
        log.info("%s: %r at %d Hz", self.ACTION, self.name, self.rate_hz)

    def _callback(self, data: np.ndarray, frames: int, time_info: object, status: object) -> None:
        raise NotImplementedError

    def stalled_s(self, stall_timeout_s: float) -> float:
        """Seconds since the last callback when over `stall_timeout_s` (a stream that stays active but stopped
        calling back: a stuck sound server); 0.0 otherwise."""
        if self._stream is None or self._closing:
            return 0.0
        since = time.monotonic() - (self.last_callback_t or self._opened_t)
        return since if since > stall_timeout_s else 0.0

    @property
    def latency_s(self) -> float:
        """The latency PortAudio reports for this stream (input: ADC to callback; output: callback to audible)."""
        lat = getattr(self._stream, "latency", 0.0) if self._stream is not None else 0.0
        if isinstance(lat, tuple):
            lat = lat[0] if self.KIND == "input" else lat[1]
        return float(lat or 0.0)

    def _finished(self) -> None:
        if self._closing:
            return
        self.lost.set()
        if self.on_lost is not None:
            self.on_lost()

    @property
    def active(self) -> bool:
        return self._stream is not None and bool(self._stream.active)

    def close(self) -> None:
        self._closing = True
        if self._stream is not None:
            _close_stream(self._stream, self.KIND)
            self._stream = None


class MicCapture(_DeviceStream):
    """Input stream -> bounded queue of (arrival time.monotonic(), [N] float32 mono block at device rate)."""

    KIND, FALLBACK_RATE_HZ, ACTION = "input", SPEECH_RATE_HZ, "capture"

    def __init__(
        self,
        backend: AudioBackend,
        device: int | str | None,
        rate_hz: int | None,
        block_ms: float,
        queue_blocks: int,
    ) -> None:
        super().__init__(backend, device, rate_hz, block_ms)
        self.queue: queue.Queue[tuple[float, np.ndarray]] = queue.Queue(maxsize=queue_blocks)
        self.dropped_blocks = 0
        self.status_flags = 0
        self.first_block = threading.Event()

    def adc_time(self, arrival_t: float, n: int) -> float:
        """When the first of the `n` samples of a block that arrived at `arrival_t` reached the ADC."""
        return arrival_t - self.latency_s - n / self.rate_hz

    def _callback(self, indata: np.ndarray, frames: int, time_info: object, status: object) -> None:
        # indata: [frames, 1] float32. Copy (with its arrival time) and hand off; never block here.
        self.last_callback_t = time.monotonic()
        if status:
            self.status_flags += 1
        try:
            self.queue.put_nowait((time.monotonic(), indata[:, 0].copy()))
        except queue.Full:
            self.dropped_blocks += 1
        self.first_block.set()


class SpeakerOutput(_DeviceStream):
    """Output stream fed by a PlayoutBuffer at the device rate (mono, copied to every channel)."""

    KIND, FALLBACK_RATE_HZ, ACTION = "output", DEVICE_RATE_HZ, "playback"

    def __init__(
        self,
        backend: AudioBackend,
        device: int | str | None,
        rate_hz: int | None,
        block_ms: float,
        playout: PlayoutBuffer,
    ) -> None:
        super().__init__(backend, device, rate_hz, block_ms)
        self._playout = playout
        # the echo canceller's far end (core.audio.echo.EchoReference); set while the "speakers" mode runs
        self.reference: PlayedBlocks | None = None

    def _callback(self, outdata: np.ndarray, frames: int, time_info: object, status: object) -> None:
        # outdata: [frames, channels] float32, filled in place.
        self.last_callback_t = now = time.monotonic()
        self._playout.fill(outdata[:, 0])
        if outdata.shape[1] > 1:
            outdata[:, 1:] = outdata[:, :1]
        reference = self.reference
        if reference is not None:  # copy + put_nowait: what the canceller must remove, when it becomes audible
            reference.push(now + self.latency_s, outdata[:, 0])


class Resampler:
    """Streaming mono float32 resampler (soxr); identity when the rates match."""

    def __init__(self, in_rate_hz: int, out_rate_hz: int, quality: str = "HQ") -> None:
        """quality: soxr's; "HQ" holds back ~30 ms of a 20 ms-block stream and releases it in bursts, "LQ" ~16 ms
        steadily."""
        self.in_rate_hz, self.out_rate_hz = in_rate_hz, out_rate_hz
        self._rs = (
            None
            if in_rate_hz == out_rate_hz
            else soxr.ResampleStream(in_rate_hz, out_rate_hz, 1, dtype="float32", quality=quality)
        )

    def process(self, x: np.ndarray, last: bool = False) -> np.ndarray:
        """x: [N] float32 -> [M] float32; `last=True` flushes the filter tail."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if self._rs is None:
            return x
        return self._rs.resample_chunk(x, last=last)


class FrameChunker:
    """Re-blocks a sample stream into fixed frames. push([N]) -> list of [frame] arrays."""

    def __init__(self, frame: int) -> None:
        self._frame = frame
        self._buf = np.zeros(0, dtype=np.float32)

    def push(self, x: np.ndarray) -> list[np.ndarray]:
        buf = np.concatenate([self._buf, x]) if self._buf.size else x
        n = buf.size // self._frame
        frames = [buf[i * self._frame : (i + 1) * self._frame] for i in range(n)]
        self._buf = buf[n * self._frame :].copy()
        return frames
