"""The real window under Xvfb (xcb platform): `main.py --demo` opens, loads the offline demo checkpoint, answers
a typed message (audio through a private PulseAudio server when available, else in text-only mode), is
screenshotted with ImageMagick's `import -window root`, and exits 0 on SIGTERM without hanging."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCREEN = "1280x800x24"
START_TIMEOUT_S = 120.0
EXIT_TIMEOUT_S = 30.0
SCREENSHOT_COPY_ENV = "UI_SCREENSHOT_DIR"  # also copy the screenshot here (docs)

pytestmark = pytest.mark.slow


@pytest.fixture
def xvfb_display():
    for tool in ("Xvfb", "import"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (see .ci/install)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", SCREEN, "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as f:
        display = f":{f.readline().strip()}"
    yield display
    proc.terminate()
    proc.wait(10)


def _optional_pulse(request) -> bool:
    try:
        request.getfixturevalue("pulse_server")
        return True
    except pytest.skip.Exception:
        return False


def _wait_for(log_path: Path, text: str, proc: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in log_path.read_text(errors="replace"):
        assert proc.poll() is None, f"the app exited early:\n{log_path.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{text!r} not logged:\n{log_path.read_text()[-3000:]}"
        time.sleep(0.2)


def test_main_opens_the_window_under_xvfb_and_exits_cleanly(xvfb_display, request, tmp_path):
    has_audio = _optional_pulse(request)
    env = dict(os.environ, DISPLAY=xvfb_display, QT_QPA_PLATFORM="xcb", OMP_NUM_THREADS="1",
               OPENS2S_COMPANION_CONFIG_DIR=str(tmp_path / "config"),
               OPENS2S_COMPANION_DATA_DIR=str(tmp_path / "data"))
    log_path = tmp_path / "app.log"
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen([sys.executable, "main.py", "-v", "--demo", "--send", "Hello, who are you?"],
                                cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            _wait_for(log_path, "model loaded: demo", proc, START_TIMEOUT_S)
            _wait_for(log_path, "reply 1 ended", proc, START_TIMEOUT_S)  # played, or text-only without devices
            shot = tmp_path / "xvfb_window.png"
            subprocess.run(["import", "-display", xvfb_display, "-window", "root", str(shot)], check=True,
                           timeout=30)
            assert shot.stat().st_size > 10_000
            if os.environ.get(SCREENSHOT_COPY_ENV):
                shutil.copy(shot, Path(os.environ[SCREENSHOT_COPY_ENV]) / shot.name)
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(EXIT_TIMEOUT_S)
            exit_s = time.monotonic() - t0
        finally:
            if proc.poll() is None:
                proc.kill()
    out = log_path.read_text()
    assert rc == 0, out[-3000:]
    assert "window closed (clean shutdown: True)" in out
    print(f"exit after SIGTERM: {exit_s:.2f} s (audio: {has_audio})")
