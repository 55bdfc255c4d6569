"""Turn-taking's tests: VAD, semantic end of turn, the `turns` command."""

from __future__ import annotations

from tests.fast import mark_fast

# This stage's part of `./test --fast` (pytest -m fast): quick tests that still cover the stage.
FAST = (
    "test_vad.py",
    "test_semantic.py",
    "test_turn_corpus.py",
    "test_over_reply.py",
    "test_muted_tail.py",
)


def pytest_collection_modifyitems(items):
    mark_fast(items, __file__, FAST)
