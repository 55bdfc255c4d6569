"""The terminal log keeps every line while a library points file descriptor 2 elsewhere for a moment.

`import sounddevice` sends fd 2 to /dev/null while PortAudio probes the devices; the window imports it on its
engine-control thread just as the listeners finish loading on theirs. The Xvfb session test waited for the text
listener's "ready" that the app had logged into that moment (issue 31, finding 7). Each case runs in a fresh
interpreter with the app's own `configure_logging`, and forces the interleaving with an Event.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# What sounddevice._initialize() does around Pa_Initialize(), with a hook in the middle.
REDIRECTED = """
import os
def with_fd2_at_devnull(during):
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        during()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
"""

LINE_FROM_ANOTHER_THREAD = REDIRECTED + """
import logging, threading
from app.logs import configure_logging
configure_logging(1)
redirected, logged = threading.Event(), threading.Event()
def listener_thread():
    redirected.wait(10)
    logging.getLogger("core.listeners.base").info("assistant_emotion: ready (tiny)")
    logged.set()
t = threading.Thread(target=listener_thread)
t.start()
with_fd2_at_devnull(lambda: (redirected.set(), logged.wait(10)))
t.join()
logging.getLogger("main").info("after the redirect")
"""

LISTENER_READY = REDIRECTED + """
import logging, threading, time
from app.logs import configure_logging
from core.listeners.base import Listener
from core.listeners.config import ListenersConfig
configure_logging(1)
redirected = threading.Event()

class SlowListener(Listener):
    name = "assistant_emotion"

    def _load(self):
        redirected.wait(30)  # the load ends while fd 2 points at /dev/null
        return ("calm", "happy")

lis = SlowListener("tiny", ListenersConfig(), lambda ev: None)
lis.start()
def until_ready():
    redirected.set()
    deadline = time.monotonic() + 60
    while lis.status().loading and time.monotonic() < deadline:
        time.sleep(0.01)
with_fd2_at_devnull(until_ready)
print("status:", lis.status().describe(), flush=True)
lis.close(5)
"""


def run_app_code(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OPENS2S_COMPANION_LOG_DIR=str(tmp_path), OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return out


def test_a_line_logged_while_fd2_points_at_devnull_still_reaches_the_terminal(tmp_path):
    out = run_app_code(LINE_FROM_ANOTHER_THREAD, tmp_path)
    assert "assistant_emotion: ready (tiny)" in out.stderr, out.stderr
    assert "after the redirect" in out.stderr, out.stderr
    assert "assistant_emotion: ready (tiny)" in (tmp_path / "companion.log").read_text()


def test_a_listener_ready_while_portaudio_initialises_is_on_the_terminal(tmp_path):
    out = run_app_code(LISTENER_READY, tmp_path)
    assert "status: assistant_emotion: on — ready" in out.stdout, out.stdout + out.stderr
    assert "assistant_emotion: ready (tiny)" in out.stderr, out.stderr
