"""Audio fixtures: espeak-ng utterances generated at test time, and a private PulseAudio server with a null
speaker sink (`spk`, 48 kHz) and a virtual microphone (`micsink`, whose monitor is the default source).

Register with `pytest_plugins = ["tests.audio_fixtures"]` (tests/conftest.py) or import the fixtures.
Nothing here imports sounddevice: the server's env vars must be set before PortAudio initialises.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SPK_RATE_HZ = 48000
START_TIMEOUT_S = 10.0
WARM_TIMEOUT_S = 6.0  # an idle null sink has ~2 s latency on first use


def espeak(text: str, out_dir: Path, name: str = "utt") -> tuple[np.ndarray, int]:
    """Synthesize `text` with espeak-ng -> ([N] float32 mono, rate_hz); also leaves out_dir/name.wav."""
    path = out_dir / f"{name}.wav"
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(path), text], check=True, capture_output=True)
    x, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return x[:, 0].copy(), int(rate)


@pytest.fixture(scope="session")
def speech_factory(tmp_path_factory):
    """speech_factory(text) -> ([N] float32, rate_hz) from espeak-ng."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (see .ci/install)")
    out = tmp_path_factory.mktemp("espeak")
    counter = iter(range(10**6))
    return lambda text: espeak(text, out, f"utt{next(counter)}")


class PulseServer:
    """A hermetic PulseAudio daemon for one test session."""

    def __init__(self, runtime_dir: Path) -> None:
        self.runtime_dir = runtime_dir
        self.proc: subprocess.Popen | None = None
        self._warm: list[subprocess.Popen] = []
        self.env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime_dir), PULSE_SERVER=f"unix:{runtime_dir}/pulse/native")

    def start(self) -> None:
        cmd = [
            "pulseaudio",
            "-n",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--disallow-exit",
            "-L",
            "module-native-protocol-unix",
            "-L",
            f"module-null-sink sink_name=spk rate={SPK_RATE_HZ}",
            "-L",
            "module-null-sink sink_name=micsink rate=16000 channels=1",
            "-L",
            "module-always-sink",
        ]
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while subprocess.run(["pactl", "info"], env=self.env, capture_output=True).returncode != 0:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("pulseaudio did not start")
            time.sleep(0.1)
        self.pactl("set-default-sink", "spk")
        self.pactl("set-default-source", "micsink.monitor")
        self._warm_up()

    def _warm_up(self) -> None:
        """One low-latency reader per monitor, kept running: later streams start in ~30 ms, not ~2 s."""
        for mon in ("spk.monitor", "micsink.monitor"):
            p = subprocess.Popen(
                ["parec", f"--device={mon}", "--latency-msec=20", "--raw"],
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            self._warm.append(p)
            os.set_blocking(p.stdout.fileno(), False)
        deadline = time.monotonic() + WARM_TIMEOUT_S
        pending = list(self._warm)
        while pending and time.monotonic() < deadline:
            pending = [p for p in pending if not p.stdout.read(65536)]
            time.sleep(0.05)
        _drain_in_background(self._warm)

    def pactl(self, *args: str) -> str:
        r = subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True, check=True)
        return r.stdout

    def play_to_mic(self, wav: Path) -> subprocess.Popen:
        """Speak into the virtual microphone (non-blocking)."""
        return subprocess.Popen(["paplay", "--device=micsink", "--latency-msec=20", str(wav)], env=self.env)

    def record_monitor(self, out: Path, rate_hz: int = 16000) -> subprocess.Popen:
        """Record what the speaker sink plays (float32 mono raw at rate_hz) until terminated."""
        with open(out, "wb") as f:  # the child keeps its own descriptor
            return subprocess.Popen(
                [
                    "parec",
                    "--device=spk.monitor",
                    "--latency-msec=20",
                    "--raw",
                    "--format=float32le",
                    f"--rate={rate_hz}",
                    "--channels=1",
                ],
                env=self.env,
                stdout=f,
                stderr=subprocess.DEVNULL,
            )

    def kill(self) -> None:
        """Kill the server (a 'device vanishing' for every stream) and wait for it to exit."""
        for p in self._warm:
            p.kill()
            p.wait(5)
        self._warm = []
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None


def _drain_in_background(procs: list[subprocess.Popen]) -> None:
    """Keep the warm-up readers' pipes drained so they never block the server."""
    import threading

    def _drain(p: subprocess.Popen) -> None:
        os.set_blocking(p.stdout.fileno(), True)
        while p.stdout.read(65536):
            pass

    for p in procs:
        threading.Thread(target=_drain, args=(p,), name="parec-drain", daemon=True).start()


@pytest.fixture(scope="session")
def pulse_server():
    """Start PulseAudio, point this process's PortAudio at it (env set before sounddevice import)."""
    for tool in ("pulseaudio", "pactl", "parec", "paplay"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (see .ci/install)")
    runtime = Path(tempfile.mkdtemp(prefix="pulse-test-"))
    runtime.chmod(0o700)
    server = PulseServer(runtime)
    server.start()
    saved = {k: os.environ.get(k) for k in ("XDG_RUNTIME_DIR", "PULSE_SERVER")}
    os.environ.update(XDG_RUNTIME_DIR=server.env["XDG_RUNTIME_DIR"], PULSE_SERVER=server.env["PULSE_SERVER"])
    if "sounddevice" in sys.modules:  # PortAudio already initialised without the server: re-enumerate
        sd = sys.modules["sounddevice"]
        sd._terminate()
        sd._initialize()
    try:
        yield server
    finally:
        server.kill()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(runtime, ignore_errors=True)
