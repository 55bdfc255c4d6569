"""The listeners' fixtures: `tiny`, the tiny random listener checkpoints (one set per test module)."""

from __future__ import annotations

import pytest

from models.listeners.tiny import write_tiny_listeners
from tests.fast import mark_fast


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """{"asr": path, "ser": path, "text_emotion": path}: the tiny listener checkpoints, written once per module."""
    return write_tiny_listeners(tmp_path_factory.mktemp("tiny_listeners"))


# This stage's part of `./test --fast` (pytest -m fast): quick tests that still cover the stage.
FAST = (
    "test_worker.py",
    "test_bridge.py",
    "test_tiny.py",
    "test_cli.py",
    "test_manager.py::test_turn_events_arrive_in_order",
)


def pytest_collection_modifyitems(items):
    mark_fast(items, __file__, FAST)
