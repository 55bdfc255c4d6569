"""The app's torch thread policy (core.compute): OMP_NUM_THREADS when set, else all usable cores but one."""

from __future__ import annotations

import os

import pytest
import torch

from core.compute import configure_cpu_threads, default_cpu_threads
from models.errors import UserError


def test_default_leaves_one_core_for_the_realtime_threads():
    cores = len(os.sched_getaffinity(0))
    assert default_cpu_threads({}) == max(1, cores - 1)
    assert default_cpu_threads({"OMP_NUM_THREADS": "3"}) == 3
    assert default_cpu_threads({"OMP_NUM_THREADS": "zero"}) == max(1, cores - 1)  # ignored, with a warning


def test_configure_sets_torch_threads():
    before = torch.get_num_threads()
    try:
        assert configure_cpu_threads(1) == 1 and torch.get_num_threads() == 1
        with pytest.raises(UserError, match="at least 1"):
            configure_cpu_threads(0)
    finally:
        torch.set_num_threads(before)


def test_loading_silero_vad_keeps_the_apps_thread_count():
    """silero_vad's first import sets torch to 1 thread process-wide; SileroVad undoes that."""
    import subprocess
    import sys

    code = ("import torch; torch.set_num_threads(2); from core.turns.vad import SileroVad; SileroVad(); "
            "print(torch.get_num_threads())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "2"
