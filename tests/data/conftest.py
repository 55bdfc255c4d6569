"""Data construction's tests (core/data: LLM, TTS, checks, the pipeline)."""

from __future__ import annotations

from tests.fast import mark_fast

# This stage's part of `./test --fast` (pytest -m fast): quick tests that still cover the stage.
FAST = (
    "test_reliability.py",
    "test_config.py",
    "test_tts.py",
    "test_llm.py",
    "test_pipeline.py::test_e2e_dataset_passes_the_training_loader",
)


def pytest_collection_modifyitems(items):
    mark_fast(items, __file__, FAST)
