"""The fast subset (`./test --fast`, i.e. `pytest -m fast`): each stage folder's conftest.py names its quick tests
in FAST and marks them with `mark_fast` from its `pytest_collection_modifyitems` hook."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest


def mark_fast(items: list[pytest.Item], conftest_file: str, fast: Iterable[str]) -> None:
    """Mark `fast` the items of the folder holding `conftest_file` that FAST names: "test_x.py" (the whole module)
    or "test_x.py::test_name" (one test, every parameter). A name that matches no test is an error."""
    folder = Path(conftest_file).parent
    fast = set(fast)
    modules = {}
    for item in items:
        if item.path.parent != folder:
            continue
        modules[item.path.name] = item.module
        test = item.nodeid.split("::", 1)[1].split("[")[0] if "::" in item.nodeid else ""
        if item.path.name in fast or f"{item.path.name}::{test}" in fast:
            item.add_marker(pytest.mark.fast)
    stale = []
    for name in sorted(fast):
        file, _, test = name.partition("::")
        if not (folder / file).is_file() or (test and file in modules and not hasattr(modules[file], test)):
            stale.append(name)
    if stale:
        raise pytest.UsageError(f"tests/{folder.name}/conftest.py: FAST names no test: {', '.join(stale)}")
