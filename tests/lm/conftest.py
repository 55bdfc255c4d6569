"""The language model's tests: runner, sampling, prompt cache, detokenizer, weights, reference parity."""

from __future__ import annotations

from tests.fast import mark_fast

# This stage's part of `./test --fast` (pytest -m fast): quick tests that still cover the stage.
FAST = (
    "test_sampling.py",
    "test_detokenize.py",
    "test_heard_text.py",
    "test_runner.py::test_cached_loop_equals_full_recompute",
    "test_runner.py::test_cancel_before_and_during",
    "test_prompt_cache.py::test_cancelled_turn_keeps_the_cache_and_new_history_invalidates",
    "test_checkpoint_loading.py::test_broken_checkpoints_give_one_line_errors",
    "test_reference_parity.py",
    "test_runner.py::test_event_order_follows_interleave_schedule",
    "test_history_memory.py::test_spilled_audio_reads_back_bit_exact_and_only_the_newest_clip_stays_in_memory",
    "test_history_memory.py::test_replies_from_spilled_history_equal_replies_from_memory",
)


def pytest_collection_modifyitems(items):
    mark_fast(items, __file__, FAST)
