"""A sounddevice-like backend that replays audio through real callbacks on real-time threads: one input device
(`FakeMic`: injected clips over silence or noise) and one output device (`FakeSpeaker`: every block played, with
its wall time). Tests, benchmarks (bench/) and the screenshot script (scripts/) drive the engine with it.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

from app.window.paced_audio import PacedStream
from core.audio.devices import DEVICE_RATE_HZ

log = logging.getLogger(__name__)

FAKE_INPUT_RATE_HZ = DEVICE_RATE_HZ
FAKE_OUTPUT_RATE_HZ = 44100  # differs from the input on purpose: both resamplers are exercised


class FakePortAudioError(Exception):
    pass


class FakeMic:
    """What the fake microphone hears: injected clips, else a background (silence or noise)."""

    def __init__(self, rate_hz: int, noise_rms: float = 0.0, seed: int = 0) -> None:
        self.rate_hz = rate_hz
        self._noise_rms = noise_rms
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._pending: list[tuple[np.ndarray, dict]] = []  # (samples, record) per clip
        self.injections: list[dict] = []  # {"n": samples, "start_t": first delivered, "end_t": last delivered}

    def inject(self, samples: np.ndarray) -> dict:
        """samples: [N] float32 at the mic rate. Returns a record filled with delivery times."""
        rec = {"n": int(samples.size), "start_t": None, "end_t": None, "clip": np.asarray(samples, np.float32)}
        with self._lock:
            self._pending.append((np.asarray(samples, np.float32).copy(), rec))
            self.injections.append(rec)
        return rec

    def busy(self) -> bool:
        with self._lock:
            return bool(self._pending)

    def read(self, n: int) -> np.ndarray:
        out = (self._rng.standard_normal(n) * self._noise_rms).astype(np.float32)
        got = 0
        now = time.monotonic()
        with self._lock:
            while got < n and self._pending:
                clip, rec = self._pending[0]
                if rec["start_t"] is None:
                    rec["start_t"] = now
                take = min(n - got, clip.size)
                out[got : got + take] = clip[:take]
                got += take
                if take == clip.size:
                    rec["end_t"] = now
                    self._pending.pop(0)
                else:
                    self._pending[0] = (clip[take:], rec)
        return out


class FakeSpeaker:
    """Everything the output callbacks produced, with the wall time of each block."""

    def __init__(self, rate_hz: int) -> None:
        self.rate_hz = rate_hz
        self._lock = threading.Lock()
        self.blocks: list[tuple[float, np.ndarray]] = []

    def append(self, t: float, block: np.ndarray) -> None:
        with self._lock:
            self.blocks.append((t, block.copy()))

    def audio(self) -> np.ndarray:
        with self._lock:
            return np.concatenate([b for _, b in self.blocks]) if self.blocks else np.zeros(0, np.float32)

    def loud_times(self, threshold: float = 0.01) -> list[float]:
        with self._lock:
            return [t for t, b in self.blocks if b.size and float(np.max(np.abs(b))) > threshold]


class FakeStream(PacedStream):
    NAME = "fake"
    DEFAULT_BLOCKSIZE = 512

    def __init__(self, backend: FakeAudio, kind: str, samplerate: float, blocksize: int, **kw: object) -> None:
        if samplerate in backend.refuse_rates:
            raise FakePortAudioError(f"Invalid sample rate [PaErrorCode -9997] ({samplerate})")
        super().__init__(kind, samplerate, blocksize, speed=backend.speed, **kw)
        self._backend = backend
        backend.streams.append(self)

    def input_block(self, n: int) -> np.ndarray:
        return self._backend.mic.read(n)

    def played(self, t: float, block: np.ndarray) -> None:
        self._backend.speaker.append(t, block)


class FakeAudio:
    """A `sounddevice`-like module: one input and one output device, real-time callback threads."""

    PortAudioError = FakePortAudioError

    def __init__(
        self,
        in_rate_hz: int = FAKE_INPUT_RATE_HZ,
        out_rate_hz: int = FAKE_OUTPUT_RATE_HZ,
        has_input: bool = True,
        has_output: bool = True,
        refuse_rates: tuple[int, ...] = (),
        noise_rms: float = 0.0,
        speed: float = 1.0,
    ) -> None:
        self.in_rate_hz, self.out_rate_hz = in_rate_hz, out_rate_hz
        self.has_input, self.has_output = has_input, has_output
        self.refuse_rates = set(refuse_rates)
        self.speed = speed
        self.mic = FakeMic(in_rate_hz, noise_rms)
        self.speaker = FakeSpeaker(out_rate_hz)
        self.streams: list[FakeStream] = []

    def query_devices(self, device: int | str | None = None, kind: str | None = None) -> dict:
        if kind == "input" and not self.has_input or kind == "output" and not self.has_output:
            raise FakePortAudioError(f"Error querying device -1 (no default {kind} device)")
        if device not in (None, 0, "fake"):
            raise ValueError(f"No {kind} device matching {device!r}")
        rate = self.in_rate_hz if kind == "input" else self.out_rate_hz
        return {
            "name": "fake",
            "index": 0,
            "max_input_channels": 1 if self.has_input else 0,
            "max_output_channels": 2 if self.has_output else 0,
            "default_samplerate": float(rate),
        }

    def InputStream(self, **kw: object) -> FakeStream:  # noqa: N802 (sounddevice's name)
        return FakeStream(self, "input", **kw)

    def OutputStream(self, **kw: object) -> FakeStream:  # noqa: N802 (sounddevice's name)
        return FakeStream(self, "output", **kw)

    def stream(self, kind: str) -> FakeStream:
        return [s for s in self.streams if s.kind == kind][-1]
