"""The listeners' "ready" reaches the app's stderr even when it comes while PortAudio initialises (issue 31,
finding 7): the real app under Xvfb + PulseAudio; the sound server is held (SIGSTOP) while the demo loads, so
`import sounddevice` keeps fd 2 pointed at /dev/null for seconds, as a loaded machine did by chance."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from tests.ui.xvfb_app import App, Xvfb, require_tools

pytestmark = [pytest.mark.slow, pytest.mark.audio]
HOLD_S = 4.0  # the listeners load in well under this (tiny demo listeners)


def companion_log(home: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in home.glob("**/companion.log"))


def test_listener_ready_while_the_sound_server_is_slow_is_on_stderr(pulse_server, tmp_path):
    require_tools("Xvfb", "xdotool")
    x11 = Xvfb()
    app = App(x11.display, ["-v"], tmp_path, tmp_path / "data")
    try:
        app.wait_for("window shown")
        app.focus_main()
        pulse_server.proc.send_signal(signal.SIGSTOP)  # PortAudio's device probe now waits for the server
        try:
            app.key("alt+f", "t")  # File → Try the demo
            app.wait_for("model loaded: demo")
            deadline = time.monotonic() + 60
            while "assistant_emotion: ready" not in companion_log(tmp_path / "home"):
                assert time.monotonic() < deadline, "the text listener never became ready"
                time.sleep(0.1)
            time.sleep(HOLD_S)
        finally:
            pulse_server.proc.send_signal(signal.SIGCONT)
        app.wait_for("state idle -> listening", timeout_s=60)
        app.focus_main()
        app.key("ctrl+q")
        rc = app.finish()
    finally:
        if app.proc.poll() is None:
            app.proc.kill()
        x11.stop()
    stderr = app.log()
    in_file = companion_log(tmp_path / "home")
    assert rc == 0, stderr[-3000:]
    for name in ("asr", "user_emotion", "assistant_emotion"):
        assert re.search(rf"{name}: ready \(", in_file), in_file[-3000:]  # ready in the log file...
        assert re.search(rf"{name}: ready \(", stderr), stderr[-3000:]  # ...and on the terminal
        assert f"listener shown: {name}: ready" in stderr, stderr[-3000:]
