"""Training's tests: the jsonl loader, loss parity, runs on tiny checkpoints."""

from __future__ import annotations

from tests.fast import mark_fast

# This stage's part of `./test --fast` (pytest -m fast): quick tests that still cover the stage.
FAST = (
    "test_data.py",
    "test_data_limits.py",
    "test_run.py::test_bad_settings_are_one_line_errors",
    "test_loss_parity.py",
    "test_run.py::test_resume_after_step_k_equals_uninterrupted",
)


def pytest_collection_modifyitems(items):
    mark_fast(items, __file__, FAST)
