"""A private PulseAudio server for tests and benchmarks on machines without sound hardware: a null speaker sink
(`spk`, the device rate) and a virtual microphone (`micsink` at the speech rate, whose monitor is the default
source). Nothing here imports sounddevice: the server's environment must be set before PortAudio initialises.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from core.audio.devices import DEVICE_RATE_HZ
from models.rates import SPEECH_RATE_HZ

log = logging.getLogger(__name__)

SPK_RATE_HZ = DEVICE_RATE_HZ
START_TIMEOUT_S = 10.0
WARM_TIMEOUT_S = 6.0  # an idle null sink has ~2 s latency on first use
STOP_TIMEOUT_S = 10.0
TOOLS = ("pulseaudio", "pactl", "parec", "paplay")


def missing_tools() -> list[str]:
    """The PulseAudio programs this module needs that are not installed (see .ci/install)."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


class PulseServer:
    """A hermetic PulseAudio daemon; `env` points a child process (or this one) at it."""

    def __init__(self, runtime_dir: Path) -> None:
        self.runtime_dir = runtime_dir
        self.proc: subprocess.Popen | None = None
        self._warm: list[subprocess.Popen] = []
        self._n_samples = 0
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
            f"module-null-sink sink_name=micsink rate={SPEECH_RATE_HZ} channels=1",
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
        """Speak into the virtual microphone (non-blocking; the process ends once the playback has started).

        The server plays the file from its sample cache, with no client in the loop: a feeder starved of CPU
        (paplay with a 20 ms buffer beside CPU hogs) let the null sink render silence inside the speech, gaps of
        up to 540 ms in an utterance whose longest pause is 44 ms (scripts/mic_feed_gaps.py), which the
        end-of-turn policy rightly took for the end of the turn."""
        self._n_samples += 1
        name = f"mic{self._n_samples}"
        self.pactl("upload-sample", str(wav), name)
        return subprocess.Popen(["pactl", "play-sample", name, "micsink"], env=self.env)

    def record_monitor(self, out: Path, rate_hz: int = SPEECH_RATE_HZ) -> subprocess.Popen:
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
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT_S)
            self.proc = None


def _drain_in_background(procs: list[subprocess.Popen]) -> None:
    """Keep the warm-up readers' pipes drained so they never block the server."""

    def _drain(p: subprocess.Popen) -> None:
        os.set_blocking(p.stdout.fileno(), True)
        while p.stdout.read(65536):
            pass

    for p in procs:
        threading.Thread(target=_drain, args=(p,), name="parec-drain", daemon=True).start()
