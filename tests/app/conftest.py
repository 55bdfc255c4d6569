"""The app's tests: commands and the CLI, settings, files, untrusted configs, faults, thread policy."""

from __future__ import annotations

from tests.fast import mark_fast

# This stage's part of `./test --fast` (pytest -m fast): quick tests that still cover the stage.
FAST = (
    "test_converse_cli.py",
    "test_inspector_data.py",
    "test_exports.py",
    "test_turn_defaults.py",
    "test_assembly.py::test_flags_not_given_keep_the_base_config_and_given_ones_replace_it",
    "test_assembly.py::test_each_default_is_written_once_in_the_product",
    "test_assembly.py::test_a_hub_id_downloads_once_then_works_offline",
    "test_file_safety.py",
    "test_settings_files.py",
    "test_untrusted_configs.py",
    "test_stack_dump.py",
    "test_cpu_threads.py",
    "test_faults.py::test_a_stalled_stream",
    "test_reply_cli.py::test_reply_text_streams_and_writes_units",
)


def pytest_collection_modifyitems(items):
    mark_fast(items, __file__, FAST)
