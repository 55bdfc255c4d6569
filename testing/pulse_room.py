"""The simulated room on the real PulseAudio path: a bridge that hears what the speaker sink plays (`parec` from
`spk.monitor`), runs it through a `testing.room.Room`, and plays the echo plus the room's noise into the virtual
microphone (`pacat` to `micsink`), in real time. With testing.pulse_server's server, an app on real PortAudio
then hears its own replies the way a laptop would; the user's speech still goes in with `play_to_mic` (the sink
mixes the two).

Delay. The bridge writes `delay` worth of silence ahead of the echo, then keeps pace with what it reads; parec's
and pacat's buffers add their own latency (~`PIPELINE_MS`, measured by the test in tests/audio), which
`compensate_ms` takes off the room's delay (never below zero). `MonitorRecorder` records a sink's monitor with
each sample's wall time (the earliest arrival-minus-count anchor, as core.audio.echo's clock does) so tests and
benchmarks can measure the round trip.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time

import numpy as np

from testing.room import Room, RoomConfig

log = logging.getLogger(__name__)

BRIDGE_RATE_HZ = 16000  # parec resamples the speaker's monitor to this; micsink runs at it
LATENCY_MS = 20  # parec / pacat buffer latency asked for
PIPELINE_MS = 18.0  # what parec + pacat add at LATENCY_MS (measured: 18-20 ms on a null-sink server)
READ_BYTES = 4 * BRIDGE_RATE_HZ // 100  # 10 ms of float32 per read at most
STOP_TIMEOUT_S = 3.0


def _parec(env: dict, device: str, rate_hz: int) -> subprocess.Popen:
    return subprocess.Popen(
        ["parec", f"--device={device}", f"--latency-msec={LATENCY_MS}", "--raw", "--format=float32le",
         f"--rate={rate_hz}", "--channels=1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(STOP_TIMEOUT_S)


class _FloatReader:
    """float32 samples from a pipe, whatever the read boundaries."""

    def __init__(self, fd: int) -> None:
        self._fd, self._rest = fd, b""

    def read(self) -> np.ndarray | None:
        """The next samples (blocks until some arrive); None at end of stream."""
        data = os.read(self._fd, READ_BYTES)
        if not data:
            return None
        data = self._rest + data
        n = len(data) // 4 * 4
        self._rest = data[n:]
        return np.frombuffer(data[:n], dtype="<f4").astype(np.float32)


class PulseRoom:
    """Context manager: `with PulseRoom(RoomConfig(...), server.env): ...` runs the bridge. `stats()`: samples in
    and out, and the bridge's own latency figures."""

    def __init__(self, config: RoomConfig, env: dict, source: str = "spk.monitor", sink: str = "micsink",
                 compensate_ms: float = PIPELINE_MS) -> None:
        self.config, self._env, self._source, self._sink = config, env, source, sink
        self.room = Room(config, BRIDGE_RATE_HZ, BRIDGE_RATE_HZ)
        self.room.delay_samples = max(0, self.room.delay_samples - int(round(compensate_ms / 1000 * BRIDGE_RATE_HZ)))
        self._rec: subprocess.Popen | None = None
        self._play: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None
        self._stop_evt = threading.Event()
        self.read_samples = 0
        self.written_samples = 0
        self.error: str | None = None

    def start(self) -> PulseRoom:
        self._play = subprocess.Popen(
            ["pacat", "--playback", f"--device={self._sink}", f"--latency-msec={LATENCY_MS}", "--raw",
             "--format=float32le", f"--rate={BRIDGE_RATE_HZ}", "--channels=1"],
            env=self._env, stdin=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        self._rec = _parec(self._env, self._source, BRIDGE_RATE_HZ)
        self._thread = threading.Thread(target=self._run, name="pulse-room", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        reader = _FloatReader(self._rec.stdout.fileno())
        out = self._play.stdin
        try:
            while not self._stop_evt.is_set():
                x = reader.read()
                if x is None:
                    break
                if x.size == 0:
                    continue
                self.room.push(x)
                self.read_samples += x.size
                n = self.room.produced + self.room.delay_samples - self.written_samples
                y, _ = self.room.echo(self.written_samples, n)
                y = y + self.room.noise(n)
                out.write(y.astype("<f4").tobytes())
                out.flush()
                self.written_samples += n
        except (BrokenPipeError, OSError, ValueError) as err:  # a child died or stop() closed the pipes
            if not self._stop_evt.is_set():
                self.error = f"{type(err).__name__}: {err}"
                log.warning("pulse room bridge stopped: %s", self.error)

    def stop(self) -> None:
        self._stop_evt.set()
        _stop(self._rec)
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
        if self._play is not None and self._play.stdin is not None:
            try:
                self._play.stdin.close()
            except OSError:
                pass
        _stop(self._play)

    def __enter__(self) -> PulseRoom:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class MonitorRecorder:
    """Records a sink's monitor (float32 mono at rate_hz) on a thread; `t0` is the wall time of sample 0."""

    def __init__(self, env: dict, device: str, rate_hz: int = BRIDGE_RATE_HZ) -> None:
        self.rate_hz = rate_hz
        self._proc = _parec(env, device, rate_hz)
        self._chunks: list[np.ndarray] = []
        self._count = 0
        self.t0: float | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"rec-{device}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        reader = _FloatReader(self._proc.stdout.fileno())
        while True:
            x = reader.read()
            if x is None:
                return
            now = time.monotonic()
            with self._lock:
                self._chunks.append(x)
                self._count += x.size
                anchor = now - self._count / self.rate_hz  # sample 0's time if these arrived at once: an upper bound
                self.t0 = anchor if self.t0 is None else min(self.t0, anchor)

    def wait_started(self, timeout_s: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.t0 is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.t0 is not None

    def audio(self) -> np.ndarray:
        with self._lock:
            return np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)

    def stop(self) -> np.ndarray:
        _stop(self._proc)
        self._thread.join(STOP_TIMEOUT_S)
        return self.audio()
