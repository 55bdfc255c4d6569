"""Issue 31, finding 15: an exception nobody foresaw ends in one line naming the log file (exit 1), not a
traceback; the environment's own failures (disk full, permissions, memory) get one line and exit 2."""

from __future__ import annotations

import argparse
import errno

import pytest

from app.cli import run_cli


def _parser(raise_):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("boom")

    def run(args):
        raise raise_

    p.set_defaults(func=run, uses_models=False)
    return parser


def test_an_unexpected_exception_is_one_line_naming_the_log_with_the_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENS2S_COMPANION_LOG_DIR", str(tmp_path))
    assert run_cli(["boom"], _parser(ZeroDivisionError("division by zero"))) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "unexpected ZeroDivisionError in 'boom'" in err and str(tmp_path / "companion.log") in err
    logged = (tmp_path / "companion.log").read_text()
    assert "Traceback (most recent call last)" in logged and "ZeroDivisionError: division by zero" in logged


@pytest.mark.parametrize(("error", "says"), [
    (OSError(errno.ENOSPC, "No space left on device", "/x/out.wav"), "the disk is full (writing /x/out.wav)"),
    (PermissionError(errno.EACCES, "Permission denied", "/x/ck"), "Permission denied: /x/ck"),
    (MemoryError(), "not enough memory"),
])
def test_environment_failures_are_one_line_and_exit_2(error, says, capsys):
    assert run_cli(["boom"], _parser(error)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err
