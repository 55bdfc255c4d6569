"""The architecture's tests: the import rules, checked on the source."""

from __future__ import annotations

from tests.fast import mark_fast

# This stage's part of `./test --fast` (pytest -m fast): quick tests that still cover the stage.
FAST = (
    "test_architecture.py",
    "test_install_lock.py",
    "test_wheel_contents.py::test_package_discovery_leaves_out_test_support",
)


def pytest_collection_modifyitems(items):
    mark_fast(items, __file__, FAST)
