"""`kill -USR1` on the app writes every thread's stack to stderr (the Xvfb harness uses it when the app hangs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_sigusr1_dumps_all_threads():
    code = ("import os, signal, threading, time, main; main._stack_dumps_on_sigusr1(); "
            "threading.Thread(target=time.sleep, args=(5,), name='sleeper', daemon=True).start(); "
            "os.kill(os.getpid(), signal.SIGUSR1); time.sleep(0.2)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "Current thread 0x" in out.stderr and out.stderr.count("hread 0x") >= 2, out.stderr  # both threads
