"""A sounddevice-like backend that replays audio through real callbacks on real-time threads: one input device
(`FakeMic`: injected clips over silence or noise) and one output device (`FakeSpeaker`: every block played, with
its wall time). Tests, benchmarks (bench/) and the screenshot script (scripts/) drive the engine with it.

With a room (`FakeAudio(room=RoomConfig(...))`, testing.room) the microphone also hears the speaker's echo, aligned
to the sample: both streams count samples from their first callback, the first mic block having been recorded in
the period before its callback (as a real ADC's). The offset between the streams' starts is measured once (first
callbacks' monotonic times, x speed) and kept, so the echo at mic sample m is the speaker's output at the same
stream time minus delay_ms, whatever the threads' jitter. Echo not yet produced by the speaker side (a late output
thread) is silence, counted in `FakeMic.echo_missing`. The mic then records what it delivered, by component
(`delivered`, `delivered_user`, `delivered_echo`, from `start_t`).
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

from app.window.paced_audio import PacedStream
from core.audio.devices import DEVICE_RATE_HZ
from testing.room import Room, RoomConfig

log = logging.getLogger(__name__)

FAKE_INPUT_RATE_HZ = DEVICE_RATE_HZ
FAKE_OUTPUT_RATE_HZ = 44100  # differs from the input on purpose: both resamplers are exercised
ECHO_WAIT_S = 0.01  # a mic read waits this long (wall) for a late speaker thread before counting echo as missing
SPEAKER_LIVE_S = 0.1  # a speaker that played within this (stream time) is running: missing echo is counted


class FakePortAudioError(Exception):
    pass


class FakeMic:
    """What the fake microphone hears: injected clips, else a background (silence or noise)."""

    def __init__(self, rate_hz: int, noise_rms: float = 0.0, seed: int = 0, speed: float = 1.0,
                 room: Room | None = None, speaker: FakeSpeaker | None = None, record: bool = False) -> None:
        self.rate_hz = rate_hz
        self._noise_rms = noise_rms
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._pending: list[tuple[np.ndarray, dict]] = []  # (samples, record) per clip
        self.injections: list[dict] = []  # {"n": samples, "start_t": first delivered, "end_t": last delivered}
        self._speed, self._room, self._speaker = speed, room, speaker
        self._record = record or room is not None
        self._count = 0  # samples delivered by the current input stream
        self._stream_t0: float | None = None  # monotonic time of the current stream's sample 0
        self._offset: int | None = None  # speaker-stream index of mic sample 0 (mic rate), fixed once measured
        self._offset_for: tuple | None = None
        self.echo_missing = 0  # echo samples the speaker side had not produced in time (delivered as silence)
        self.start_t: float | None = None  # monotonic time of the recording's sample 0
        self._rec: dict[str, list[np.ndarray]] = {"total": [], "user": [], "echo": []}
        self._rec_n = 0

    def stream_started(self) -> None:
        """A new input stream: its sample 0 is placed at its first read."""
        with self._lock:
            self._count, self._stream_t0, self._offset = 0, None, None

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
        """[n] float32: what the microphone delivers now (user clips + background [+ the room's echo and noise])."""
        now = time.monotonic()
        out = (self._rng.standard_normal(n) * self._noise_rms).astype(np.float32)
        user, got = self._user(n, now)
        out[:got] = user[:got]  # a clip replaces the background noise (as it always did)
        if not self._record:
            return out
        with self._lock:
            if self._stream_t0 is None:
                self._stream_t0 = now - n / (self.rate_hz * self._speed)  # recorded during the period before
                if self.start_t is None:
                    self.start_t = self._stream_t0
                gap = int(round((self._stream_t0 - self.start_t) * self.rate_hz * self._speed)) - self._rec_n
                if gap > 0:  # a restarted stream: the time between is silence in the recording
                    self._append({k: np.zeros(gap, np.float32) for k in self._rec})
        echo = self._echo(n)
        if self._room is not None:
            out = out + echo + self._room.noise(n)
        with self._lock:
            self._count += n
            self._append({"total": out, "user": user, "echo": echo})
        return out

    def _echo(self, n: int) -> np.ndarray:
        spk_t0 = self._speaker.start_t if self._speaker is not None else None
        if self._room is None or spk_t0 is None:
            return np.zeros(n, np.float32)
        if self._offset_for != (spk_t0, self._stream_t0) or self._offset is None:
            self._offset = int(round((self._stream_t0 - spk_t0) * self._speed * self.rate_hz))
            self._offset_for = (spk_t0, self._stream_t0)
        last_t = self._speaker.last_t
        live = last_t is not None and (time.monotonic() - last_t) * self._speed < SPEAKER_LIVE_S
        echo, missing = self._room.echo(self._offset + self._count, n, ECHO_WAIT_S if live else 0.0)
        self.echo_missing += missing if live else 0  # a stopped speaker plays silence
        return echo

    def _append(self, parts: dict[str, np.ndarray]) -> None:
        for k, v in parts.items():
            self._rec[k].append(np.asarray(v, np.float32))
        self._rec_n += parts["total"].size

    def _joined(self, key: str) -> np.ndarray:
        with self._lock:
            return np.concatenate(self._rec[key]) if self._rec[key] else np.zeros(0, np.float32)

    def delivered(self) -> np.ndarray:
        """[N] float32 at the mic rate: everything delivered since `start_t` (sample i at start_t + i/rate/speed)."""
        return self._joined("total")

    def delivered_user(self) -> np.ndarray:
        """[N] float32: the injected (clean user) part of `delivered()`."""
        return self._joined("user")

    def delivered_echo(self) -> np.ndarray:
        """[N] float32: the room's echo part of `delivered()` (noise excluded)."""
        return self._joined("echo")

    def _user(self, n: int, now: float) -> tuple[np.ndarray, int]:
        """([n] float32: the pending clips' next samples, zeros after them; how many samples they covered)."""
        out = np.zeros(n, np.float32)
        got = 0
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
        return out, got


class FakeSpeaker:
    """Everything the output callbacks produced, with the wall time of each block."""

    def __init__(self, rate_hz: int, room: Room | None = None) -> None:
        self.rate_hz = rate_hz
        self._lock = threading.Lock()
        self.blocks: list[tuple[float, np.ndarray]] = []
        self._room = room
        self.start_t: float | None = None  # monotonic time of the current output stream's sample 0 (first callback)
        self.last_t: float | None = None  # monotonic time of the latest block

    def stream_started(self, t: float) -> None:
        """A new output stream whose first callback ran at `t`: the room's echo starts over."""
        if self._room is not None:
            self._room.reset()
        self.start_t = t

    def append(self, t: float, block: np.ndarray) -> None:
        with self._lock:
            self.blocks.append((t, block.copy()))
        self.last_t = t
        if self._room is not None:
            self._room.push(block)

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
        self._first = True
        backend.streams.append(self)

    def input_block(self, n: int) -> np.ndarray:
        if self._first:
            self._first = False
            self._backend.mic.stream_started()
        return self._backend.mic.read(n)

    def played(self, t: float, block: np.ndarray) -> None:
        if self._first:
            self._first = False
            self._backend.speaker.stream_started(t)
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
        room: RoomConfig | None = None,
        record: bool = False,
    ) -> None:
        """room: the echo path and background noise the mic hears (None: none, as before); record: keep what the
        mic delivered, by component, without a room too."""
        self.in_rate_hz, self.out_rate_hz = in_rate_hz, out_rate_hz
        self.has_input, self.has_output = has_input, has_output
        self.refuse_rates = set(refuse_rates)
        self.speed = speed
        self.room = Room(room, out_rate_hz, in_rate_hz) if room is not None else None
        self.speaker = FakeSpeaker(out_rate_hz, self.room)
        self.mic = FakeMic(in_rate_hz, noise_rms, speed=speed, room=self.room, speaker=self.speaker, record=record)
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
