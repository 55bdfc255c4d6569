"""Test doubles for the engine: a sounddevice-like backend replaying audio through real callbacks on threads,
a runner and a vocoder implementing docs/contracts.md with controllable timing, failures and cancel."""

from __future__ import annotations

import threading
import time

import numpy as np

from core.lm.events import SpeechUnits, StopReason, TextDelta, TurnEnd

DECODER_RATE_HZ = 22050
SAMPLES_PER_UNIT = 1764  # 12.5 units/s at 22050 Hz, like GLM-4-Voice


class FakePortAudioError(Exception):
    pass


class FakeMic:
    """What the fake microphone hears: injected clips, else a background (silence or noise)."""

    def __init__(self, rate_hz: int, noise_rms: float = 0.0, seed: int = 0) -> None:
        self.rate_hz = rate_hz
        self._noise_rms = noise_rms
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._pending: list[tuple[np.ndarray, list]] = []  # (samples, record) per clip
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


class _FakeStream:
    def __init__(
        self,
        backend: FakeAudio,
        kind: str,
        samplerate: float,
        blocksize: int,
        device=None,
        channels: int = 1,
        dtype: str = "float32",
        callback=None,
        finished_callback=None,
        **_: object,
    ):
        if samplerate in backend.refuse_rates:
            raise FakePortAudioError(f"Invalid sample rate [PaErrorCode -9997] ({samplerate})")
        self.kind, self.samplerate, self.blocksize = kind, int(samplerate), int(blocksize) or 512
        self.channels, self._cb, self._finished = channels, callback, finished_callback
        self.latency = 0.0
        self.active = False
        self.stalled = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"fake-{kind}", daemon=True)
        backend.streams.append(self)
        self._backend = backend

    def start(self) -> None:
        self.active = True
        self._thread.start()

    def _run(self) -> None:
        period = self.blocksize / self.samplerate / self._backend.speed
        next_t = time.monotonic()
        while not self._stop.is_set():
            if self.stalled:  # a stuck sound server: the stream stays active but calls back no more
                time.sleep(period)
                continue
            if self.kind == "input":
                data = self._backend.mic.read(self.blocksize).reshape(-1, 1)
                self._cb(data, self.blocksize, None, 0)
            else:
                out = np.zeros((self.blocksize, self.channels), np.float32)
                self._cb(out, self.blocksize, None, 0)
                self._backend.speaker.append(time.monotonic(), out[:, 0])
            next_t += period
            time.sleep(max(0.0, next_t - time.monotonic()))
        self.active = False

    def kill(self) -> None:
        """Simulate the device vanishing: callbacks stop, finished_callback fires."""
        self._stop.set()
        self._thread.join(1.0)
        self.active = False
        if self._finished is not None:
            self._finished()

    def abort(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(1.0)
        self.active = False

    stop = abort

    def close(self) -> None:
        self.abort()


class FakeAudio:
    """A `sounddevice`-like module: one input and one output device, real-time callback threads."""

    PortAudioError = FakePortAudioError

    def __init__(
        self,
        in_rate_hz: int = 48000,
        out_rate_hz: int = 44100,
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
        self.streams: list[_FakeStream] = []

    def query_devices(self, device=None, kind=None) -> dict:
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

    def InputStream(self, **kw) -> _FakeStream:  # noqa: N802 (sounddevice's name)
        return _FakeStream(self, "input", **kw)

    def OutputStream(self, **kw) -> _FakeStream:  # noqa: N802 (sounddevice's name)
        return _FakeStream(self, "output", **kw)

    def stream(self, kind: str) -> _FakeStream:
        return [s for s in self.streams if s.kind == kind][-1]


def default_script(words: int = 6, units_per_word: int = 5) -> list:
    """Interleaved reply: a word of text, then its units, repeated."""
    script: list = []
    for i in range(words):
        script.append(TextDelta(f"word{i} ", (100 + i,)))
        script.append(SpeechUnits(tuple(range(i * units_per_word, (i + 1) * units_per_word))))
    return script


class FakeReplyStream:
    def __init__(self, script: list, step_s: float, fail_at: int | None, on_step=None) -> None:
        self._script, self._step_s, self._fail_at, self._on_step = script, step_s, fail_at, on_step
        self._cancel = threading.Event()
        self.cancelled_t: float | None = None
        self.ended_t: float | None = None

    def cancel(self) -> None:
        if self.cancelled_t is None:
            self.cancelled_t = time.monotonic()
        self._cancel.set()

    def __iter__(self):
        text, n_units, n_tok = "", 0, 0
        for i, ev in enumerate(self._script):
            if self._on_step is not None:
                self._on_step()  # a decode step starts
            if self._cancel.wait(self._step_s):
                break
            if i == self._fail_at:
                raise RuntimeError("fake model exploded")
            if isinstance(ev, TextDelta):
                text += ev.text
                n_tok += len(ev.token_ids)
            else:
                n_units += len(ev.units)
            yield ev
        self.ended_t = time.monotonic()
        reason = StopReason.CANCELLED if self._cancel.is_set() else StopReason.EOS
        yield TurnEnd(reason, text, n_tok, n_units)


class FakeRunner:
    def __init__(self, script: list | None = None, step_s: float = 0.01, fail_at: int | None = None) -> None:
        self.script = script if script is not None else default_script()
        self.step_s, self.fail_at = step_s, fail_at
        self.on_step = None  # called before each decode step (tests watch concurrency with it)
        self.streams: list[FakeReplyStream] = []
        self.history_at_call: list[list] = []

    def reply(self, conversation, sampling=None) -> FakeReplyStream:
        self.history_at_call.append(list(conversation.turns))
        s = FakeReplyStream(self.script, self.step_s, self.fail_at, self.on_step)
        self.streams.append(s)
        return s


class FakeVocoderStream:
    def __init__(self, decoder: FakeDecoder) -> None:
        self._dec = decoder
        self._phase = 0

    def push(self, units) -> list[np.ndarray]:
        self._dec.pushes += 1
        if self._dec.fail_at_push is not None and self._dec.pushes > self._dec.fail_at_push:
            raise RuntimeError("fake vocoder exploded")
        self._dec.in_push = True
        time.sleep(self._dec.push_delay_s)
        self._dec.in_push = False
        n = len(units) * SAMPLES_PER_UNIT
        t = (self._phase + np.arange(n)) / DECODER_RATE_HZ
        self._phase += n
        return [(0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)]

    def flush(self) -> list[np.ndarray]:
        return []


class FakeDecoder:
    sample_rate_hz = DECODER_RATE_HZ

    def __init__(self, push_delay_s: float = 0.0, fail_at_push: int | None = None) -> None:
        self.push_delay_s, self.fail_at_push = push_delay_s, fail_at_push
        self.pushes = 0
        self.in_push = False

    def open_stream(self, **_: object) -> FakeVocoderStream:
        return FakeVocoderStream(self)


class FakeConversation:
    def __init__(self) -> None:
        self.turns: list[tuple[str, object]] = []

    def add_user_audio(self, samples: np.ndarray) -> tuple[str, object]:
        turn = self.user_audio_turn(samples)
        self.turns.append(turn)
        return turn

    @staticmethod
    def user_audio_turn(samples: np.ndarray) -> tuple[str, object]:
        return ("user", samples)

    def append(self, turn: tuple[str, object]) -> tuple[str, object]:
        self.turns.append(turn)
        return turn

    def extended(self, turn: tuple[str, object]) -> FakeConversation:
        conv = FakeConversation()
        conv.turns = [*self.turns, turn]
        return conv

    def add_assistant(self, text: str) -> None:
        self.turns.append(("assistant", text))


class Collector:
    """Thread-safe event sink with waiting helpers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.events: list = []

    def __call__(self, event) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def of(self, cls) -> list:
        with self._cond:
            return [e for e in self.events if isinstance(e, cls)]

    def wait_for(self, pred, timeout_s: float = 10.0):
        """Wait until pred(event) holds for some event; returns it (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for e in self.events:
                    if pred(e):
                        return e
                left = deadline - time.monotonic()
                if left <= 0:
                    names = [type(e).__name__ for e in self.events if type(e).__name__ != "MicLevel"]
                    raise AssertionError(f"event not seen within {timeout_s} s; got {names}")
                self._cond.wait(left)
