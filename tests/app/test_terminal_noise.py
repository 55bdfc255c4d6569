"""A quiet terminal (issue 34, finding 13): what a user sees when running the app is what they need, nothing else.

One real run of `main.py converse --demo` in a fresh data dir (the demo is made, the model, decoder and listeners
load, transformers and torchao are imported) checks the whole path at once; the expected offline download error is
checked as one terminal line with its traceback in the log file.
"""

from __future__ import annotations

import io
import logging
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOISE = ("Traceback", "Failed to load", "Warning:", "FutureWarning", "DeprecationWarning", "UserWarning", "pytree",
         "is deprecated", "Writing model shards", "Loading weights", "it/s]")


def test_converse_demo_first_run_prints_no_tracebacks_warnings_bars_or_blank_lines(tmp_path):
    env = dict(os.environ, OPENS2S_COMPANION_DATA_DIR=str(tmp_path), OPENS2S_COMPANION_LOG_DIR=str(tmp_path),
               OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    # no output device 999 anywhere: the run ends with its one-line device error once everything has loaded
    res = subprocess.run([sys.executable, "main.py", "converse", "--demo", "--no-warm-up", "--duration-s", "1",
                          "--output-device", "999"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr
    noise = [w for w in NOISE if w in res.stderr or w in res.stdout]
    assert not noise, f"{noise}\n--- stderr:\n{res.stderr}\n--- stdout:\n{res.stdout}"
    assert res.stderr.splitlines() == [
        "demo checkpoint: random weights, it speaks gibberish",
        "error: No output device 999 is available (Error querying device 999); connect one or pick another with "
        "--output-device (see `main.py devices`).",
    ], res.stderr
    assert "\n\n\n" not in res.stdout and not res.stdout.startswith("\n"), repr(res.stdout)  # tokenizer trainers' bars
    assert re.search(r"^\[transcript: on \(random demo\)\]$", res.stdout, re.M), res.stdout  # finding 16: listeners run
    assert (tmp_path / "demo" / ".complete").is_file()


def test_an_offline_download_is_one_terminal_line_and_its_traceback_goes_to_the_log_file():
    from app.hub import OfflineError, RepoTarget
    from app.logs import FORMAT, terminal_handler
    from app.window.downloader import HubDownloader

    def offline(_repo_id):  # what app.hub.check_online raises when the host name does not resolve
        try:
            raise socket.gaierror(-2, "Name or service not known")
        except OSError as err:
            raise OfflineError(f"cannot resolve huggingface.co: {err}") from err

    terminal_text, file_text = io.StringIO(), io.StringIO()
    terminal = terminal_handler(terminal_text, 0)
    to_file = logging.StreamHandler(file_text)
    to_file.setFormatter(logging.Formatter(FORMAT))
    logger = logging.getLogger("app.window.downloader")
    logger.addHandler(to_file)  # the file handler formats first: its cached traceback must not reach the terminal
    logger.addHandler(terminal)
    failed: list[str] = []
    try:
        dl = HubDownloader((RepoTarget("o/n", None),), list_files=offline, confirmed=True)
        dl.failed.connect(failed.append)
        dl.run()  # the thread's body, on this thread
    finally:
        logger.removeHandler(terminal)
        logger.removeHandler(to_file)
    assert failed == ["No internet connection: connect, then try again."]
    lines = terminal_text.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].endswith("WARNING app.window.downloader: download failed: No internet "
                                                 "connection: connect, then try again."), lines
    assert "Traceback (most recent call last)" in file_text.getvalue() and "OfflineError" in file_text.getvalue()
