"""Replay a stored turn through the same injected sounddevice-like backend the engine uses.

One output stream per replay, at the device's native rate (the clip is resampled with soxr first). The
PortAudio callback only copies; opening and closing run on a short-lived worker thread so a hung sound server
never blocks the GUI thread. A QTimer reaps finished streams.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from core.audio.backend import AudioBackend, AudioStream

log = logging.getLogger(__name__)

BLOCK_MS = 20
REAP_INTERVAL_MS = 100
CLOSE_TIMEOUT_S = 2.0


class _Clip:
    """The samples one stream plays; the callback reads, the GUI thread asks whether all of it was heard.

    The callback consuming the last sample is not the end: a sound server (PulseAudio) asks for a large part of the
    clip at once to fill its buffer, so the end is heard the clip's length (and the output's latency) after the
    first callback. Ending the replay at the last callback lost Esc / Stop for the rest of it (issue 34)."""

    def __init__(self, samples: np.ndarray, rate_hz: int) -> None:
        self._samples = samples
        self._pos = 0
        self.duration_s = samples.size / rate_hz
        self.first_t: float | None = None  # time.monotonic() of the first callback
        self.cancelled = threading.Event()

    def callback(self, outdata: np.ndarray, frames: int, time_info: object, status: object) -> None:
        if self.first_t is None:
            self.first_t = time.monotonic()
        outdata.fill(0.0)
        if self.cancelled.is_set():
            return
        take = min(frames, self._samples.size - self._pos)
        if take > 0:
            outdata[:take, 0] = self._samples[self._pos : self._pos + take]
            self._pos += take

    def heard(self, latency_s: float) -> bool:
        """Cancelled, or every sample handed over and, by now, played out of the speaker."""
        if self.cancelled.is_set():
            return True
        if self._pos < self._samples.size or self.first_t is None:
            return False
        return time.monotonic() >= self.first_t + self.duration_s + latency_s


class ReplayPlayer(QObject):
    """`play(samples, rate_hz)`; `stop()`; `playing`. `finished` fires when a replay ends or is stopped."""

    finished = Signal()
    failed = Signal(str)

    def __init__(self, audio: AudioBackend | None = None, device: int | str | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._audio, self._device = audio, device
        self._clip: _Clip | None = None
        self._stream: AudioStream | None = None
        self._latency_s = 0.0  # the stream's output latency: the last sample is heard this long after its callback
        self._timer = QTimer(self)
        self._timer.setInterval(REAP_INTERVAL_MS)
        self._timer.timeout.connect(self._reap)

    @property
    def playing(self) -> bool:
        return self._clip is not None and not self._clip.heard(self._latency_s)

    def set_device(self, audio: AudioBackend | None, device: int | str | None) -> None:
        self._audio, self._device = audio, device

    def play(self, samples: np.ndarray, rate_hz: int) -> None:
        self.stop()
        samples = np.asarray(samples, np.float32).reshape(-1)
        if not samples.size:
            return
        try:
            audio = self._backend()
            info = audio.query_devices(self._device, "output")
            out_rate = int(info["default_samplerate"])
            clip = _Clip(_resample(samples, rate_hz, out_rate), out_rate)
            stream = audio.OutputStream(
                samplerate=out_rate,
                blocksize=int(out_rate * BLOCK_MS / 1000),
                device=self._device,
                channels=1,
                dtype="float32",
                callback=clip.callback,
            )
            stream.start()
        except Exception as err:  # PortAudio raises its own types; report one line, keep the app running
            log.warning("replay failed: %s", err)
            self.failed.emit(f"Cannot play the turn: {err}")
            return
        self._clip, self._stream = clip, stream
        self._latency_s = _output_latency_s(stream)
        self._timer.start()

    def stop(self) -> None:
        if self._clip is not None:
            self._clip.cancelled.set()
        self._close()

    def _reap(self) -> None:
        if self._clip is None or self._clip.heard(self._latency_s):
            self._close()

    def _close(self) -> None:
        stream, self._stream, self._clip = self._stream, None, None
        self._timer.stop()
        if stream is not None:
            threading.Thread(target=_close_stream, args=(stream,), name="replay-close", daemon=True).start()
            self.finished.emit()

    def _backend(self) -> AudioBackend:
        if self._audio is None:
            import sounddevice  # deferred: PortAudio enumerates devices at import

            self._audio = sounddevice
        return self._audio


def _output_latency_s(stream: AudioStream) -> float:
    latency = getattr(stream, "latency", 0.0)
    latency = latency[1] if isinstance(latency, tuple) else latency
    return float(latency) if isinstance(latency, int | float) and latency > 0 else 0.0


def _resample(samples: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    if in_rate == out_rate:
        return samples
    import soxr

    return soxr.resample(samples, in_rate, out_rate).astype(np.float32)


def _close_stream(stream: AudioStream) -> None:
    for method in ("abort", "close"):
        try:
            getattr(stream, method)()
        except Exception as err:  # a lost device makes these raise; closing must still finish
            log.debug("replay stream %s: %s", method, err)
