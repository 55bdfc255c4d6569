"""Audio's tests: clips, the jitter buffer and devices, real PortAudio through a private PulseAudio server."""

from __future__ import annotations

from tests.fast import mark_fast

# This stage's part of `./test --fast` (pytest -m fast): quick tests that still cover the stage.
FAST = (
    "test_audio_files.py",
    "test_clips.py",
    "test_playout.py",
    "test_echo.py",
)


def pytest_collection_modifyitems(items):
    mark_fast(items, __file__, FAST)
