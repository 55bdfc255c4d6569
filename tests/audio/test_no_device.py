"""Real PortAudio with no sound server and no hardware: start() must fail with one actionable DeviceError line
(in a subprocess, so that this process's PortAudio never initialises without the test server)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.audio
ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sounddevice as sd
from core.engine.engine import Engine
from models.errors import DeviceError
from tests.engine_fakes import Collector, FakeConversation, FakeDecoder, FakeRunner
if any(d["max_output_channels"] > 0 or d["max_input_channels"] > 0 for d in sd.query_devices()):
    print("HAS-DEVICES")
    raise SystemExit(0)
events = Collector()
eng = Engine(FakeRunner(), FakeDecoder(), sink=events, conversation=FakeConversation())
try:
    eng.start()
except DeviceError as err:
    print("DEVICE-ERROR", err)
eng.stop()  # drains the event thread
print("STATE", eng.state.value, "EVENTS", [(type(e).__name__, getattr(e, "fatal", None)) for e in events.events])
"""


def test_no_sound_server_gives_a_clear_device_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PULSE_SERVER", "XDG_RUNTIME_DIR")}
    env["XDG_RUNTIME_DIR"] = str(tmp_path)  # an empty runtime dir: no PulseAudio socket to find
    r = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    if "HAS-DEVICES" in r.stdout:
        pytest.skip("this machine has real audio devices")
    assert r.returncode == 0, r.stderr[-2000:]
    line = next(x for x in r.stdout.splitlines() if x.startswith("DEVICE-ERROR"))
    assert "output device" in line and "--output-device" in line and "main.py devices" in line
    assert "STATE idle EVENTS [('EngineError', True)]" in r.stdout, r.stdout
