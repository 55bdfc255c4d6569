"""Audio's tests: clips, the jitter buffer and devices, real PortAudio through a private PulseAudio server."""

from __future__ import annotations

from tests.fast import mark_fast

# This stage's part of `./test --fast` (pytest -m fast): quick tests that still cover the stage.
FAST = (
    "test_audio_files.py",
    "test_clips.py",
    "test_playout.py",
    "test_echo.py",
    "test_room.py::test_rir_has_the_requested_rt60_and_drr",
    "test_room.py::test_echo_through_paced_streams_is_sample_aligned_at_the_delay",
)


def pytest_collection_modifyitems(items):
    mark_fast(items, __file__, FAST)
