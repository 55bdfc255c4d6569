"""The fuzz suite: every `cases_*.py` module here lists `CASES` (testing.fuzz.Case); each runs through one
long-lived CLI worker and must end "ok" or "one line" within its time bound."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from testing.fuzz import CliWorker, Table
from tests.fast import mark_fast

FAST: tuple[str, ...] = ()


def pytest_collection_modifyitems(config, items):
    mark_fast(items, __file__, FAST)


@pytest.fixture(scope="session")
def cli_worker(tmp_path_factory):
    worker = CliWorker(env={"OPENS2S_COMPANION_LOG_DIR": str(tmp_path_factory.mktemp("fuzz_logs")),
                            "OPENS2S_COMPANION_DATA_DIR": str(tmp_path_factory.mktemp("fuzz_data")),
                            "OPENS2S_COMPANION_CONFIG_DIR": str(tmp_path_factory.mktemp("fuzz_config"))})
    yield worker
    worker.close()


@pytest.fixture(scope="session")
def fuzz_shared(tmp_path_factory):
    """Pristine tiny models, made once per session and copied per case."""
    return tmp_path_factory.mktemp("fuzz_shared")


@pytest.fixture(scope="session")
def fuzz_table():
    """Rows of every case run; written as markdown to $FUZZ_TABLE at the end when that is set."""
    table = Table()
    yield table
    if os.environ.get("FUZZ_TABLE"):
        Path(os.environ["FUZZ_TABLE"]).write_text(table.markdown() + "\n", encoding="utf-8")
