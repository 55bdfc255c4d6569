"""Quitting with Ctrl+Q while a reply plays (issue 19, finding 15): the real app under Xvfb + PulseAudio, through
scripts/quit_during_reply.py (which reports N runs in a row; the issue's figure is 20). Exit 0, no thread
abandoned, no C++ terminate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_ctrl_q_during_a_playing_reply_exits_cleanly():
    res = subprocess.run([sys.executable, "scripts/quit_during_reply.py", "--runs", "1"], cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "1/1 quits during a playing reply exited 0" in res.stdout
