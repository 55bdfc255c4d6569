"""The benchmark suite's tests (bench/suite.py on the tiny preset)."""

from __future__ import annotations

from tests.fast import mark_fast

# This stage's part of `./test --fast` (pytest -m fast): quick tests that still cover the stage.
FAST = ()


def pytest_collection_modifyitems(items):
    mark_fast(items, __file__, FAST)
