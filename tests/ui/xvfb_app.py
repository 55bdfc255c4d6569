"""The real app (`main.py`) under Xvfb (xcb platform), driven with xdotool, screenshotted with ImageMagick."""

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


def require_tools(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (see .ci/install)")


class Xvfb:
    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()
        self.proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", SCREEN, "-nolisten",
                                      "tcp"], pass_fds=(write_fd,), stderr=subprocess.DEVNULL)
        os.close(write_fd)
        with os.fdopen(read_fd) as f:
            self.display = f":{f.readline().strip()}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class App:
    """`main.py ARGS` on `display`; `wait_for(text)` polls its log; `key`, `type`, `shot` drive and record it."""

    def __init__(self, display: str, args: list[str], tmp: Path, data_dir: Path, extra_env: dict | None = None):
        self.display, self.tmp = display, tmp
        self.log_path = tmp / "app.log"
        env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb", OMP_NUM_THREADS="1",
                   OPENS2S_COMPANION_CONFIG_DIR=str(tmp / "config"), OPENS2S_COMPANION_DATA_DIR=str(data_dir),
                   HOME=str(tmp / "home"), **(extra_env or {}))
        (tmp / "home").mkdir(exist_ok=True)
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "main.py", *args], cwd=REPO, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        self.xenv = dict(os.environ, DISPLAY=display)
        self.t0 = time.monotonic()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout_s: float = 120.0, count: int = 1) -> None:
        deadline = time.monotonic() + timeout_s
        while self.log().count(text) < count:
            assert self.proc.poll() is None, f"the app exited early:\n{self.log()[-3000:]}"
            if time.monotonic() >= deadline:
                raise AssertionError(f"{text!r} not logged:\n{self._log_with_stacks()[-12000:]}")
            time.sleep(0.1)

    def _log_with_stacks(self) -> str:
        """The log after asking the app (main.py's SIGUSR1 handler) to write every thread's stack into it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)
            time.sleep(1.0)
        return self.log()

    def xdo(self, *args: str) -> str:
        return subprocess.run(["xdotool", *args], env=self.xenv, capture_output=True, text=True, timeout=30).stdout

    def focus_main(self) -> None:
        wid = self.xdo("search", "--sync", "--onlyvisible", "--name", "^OpenS2S Companion$").split()[0]
        self.xdo("windowfocus", "--sync", wid)

    def key(self, *keys: str) -> None:
        self.xdo("key", "--delay", "60", *keys)

    def type(self, text: str) -> None:
        self.xdo("type", "--delay", "20", text)

    def shot(self, name: str, copy_to: Path | None = None) -> Path:
        out = self.tmp / name
        subprocess.run(["import", "-display", self.display, "-window", "root", str(out)], check=True, timeout=30)
        if copy_to is not None:
            shutil.copy(out, copy_to / name)
        return out

    def finish(self, timeout_s: float = 30.0) -> int:
        try:
            return self.proc.wait(timeout_s)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._log.close()
