"""The speech tokenizer's tests: loading, extraction, CLI, reference parity."""

from __future__ import annotations

from tests.fast import mark_fast

# This stage's part of `./test --fast` (pytest -m fast): quick tests that still cover the stage.
FAST = (
    "test_units_files.py",
    "test_reference_parity.py",
    "test_tokenizer.py::test_bad_files",
    "test_tokenizer.py::test_units_per_segment_and_utterance",
    "test_tokenizer.py::test_batched_equals_one_at_a_time",
    "test_tokenizer.py::test_missing_and_unexpected_keys_are_one_error",
)


def pytest_collection_modifyitems(items):
    mark_fast(items, __file__, FAST)
