"""Audio fixtures: espeak-ng utterances generated at test time (testing.espeak), and a private PulseAudio
server with a null speaker sink and a virtual microphone (testing.pulse_server).

Registered for every test by `pytest_plugins = ["tests.audio_fixtures"]` in tests/conftest.py.
Nothing here imports sounddevice: the server's env vars must be set before PortAudio initialises.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from testing.espeak import espeak, espeak_available
from testing.pulse_server import SPK_RATE_HZ, PulseServer, missing_tools

__all__ = ["SPK_RATE_HZ", "PulseServer", "espeak", "pulse_server", "speech_factory"]


@pytest.fixture(scope="session")
def speech_factory(tmp_path_factory):
    """speech_factory(text) -> ([N] float32, rate_hz) from espeak-ng."""
    if not espeak_available():
        pytest.fail("espeak-ng is not installed (see .ci/install)")
    out = tmp_path_factory.mktemp("espeak")
    counter = iter(range(10**6))
    return lambda text: espeak(text, out, f"utt{next(counter)}")


@pytest.fixture(scope="session")
def pulse_server():
    """Start PulseAudio, point this process's PortAudio at it (env set before sounddevice import)."""
    missing = missing_tools()
    if missing:
        pytest.fail(f"{missing[0]} is not installed (see .ci/install)")
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
