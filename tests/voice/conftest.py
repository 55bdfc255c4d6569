"""The vocoder's tests: pieces, streaming, schedules, cancel, ONNX, loading, reference parity."""

from __future__ import annotations

from tests.fast import mark_fast

# This stage's part of `./test --fast` (pytest -m fast): quick tests that still cover the stage.
FAST = (
    "test_pieces.py",
    "test_schedule_plan.py",
    "test_reference_parity.py",
    "test_stream.py::test_no_clicks_at_seams",
    "test_cancel.py::test_cancel_from_another_thread_mid_step",
    "test_first_chunk.py::test_default_machinery_matches_whole_utterance",
    "test_loading.py::test_wrong_shapes_missing_and_unexpected_keys_in_one_error",
    "test_stream.py::test_streaming_machinery_matches_whole_utterance",
    "test_onnx.py::test_hift_graphs_match_torch",
)


def pytest_collection_modifyitems(items):
    mark_fast(items, __file__, FAST)
