"""tune_malloc(): freed large buffers go back to the system, so a long session's RSS does not keep its peaks
(docs/reliability.md, "Long sessions"). Linux/glibc, like CI: no skip elsewhere, it fails there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import sys
import numpy as np
from core.compute import tune_malloc

def anon_kb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssAnon:"))

if sys.argv[1] == "tuned":
    assert tune_malloc()
big = np.ones(8 << 20, np.uint8)  # glibc's default raises its mmap threshold when this is freed
del big
base = anon_kb()
blocks = [np.ones(512 << 10, np.uint8) for _ in range(40)]  # 20 MiB of turn-sized buffers
pin = np.ones(100 << 10, np.uint8)  # a later, longer-lived allocation
del blocks
print(anon_kb() - base)
"""


def _retained_kb(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, env=env, timeout=120,
                         check=True)
    return int(out.stdout.split()[-1])


def test_freed_turn_buffers_are_returned_to_the_system():
    assert _retained_kb("tuned") < 4 * 1024  # of 20 MiB freed


def test_malloc_settings_the_user_chose_are_kept():
    from core.compute import tune_malloc

    assert tune_malloc({"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_ARENA_MAX": "4"}) is True  # nothing to apply
