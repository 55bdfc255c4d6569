"""Bad settings.json files (issue 31, findings 11 and 12): each is loaded through SettingsStore within a time
bound; the window always gets usable settings and one line saying what was wrong.

No command of the CLI reads settings.json (only the window does), so these cases are a table here rather than in
the CLI fuzz suite. `SETTINGS_TABLE=/tmp/x.md` also writes their markdown rows (case x verdict) for the docs."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import threading
import time
from pathlib import Path

import pytest

from app.settings import AppSettings, SettingsStore

TIME_BOUND_S = 10.0
DEFAULTS = AppSettings()


def _deep(path: Path) -> None:
    path.write_text("[" * 100_000 + "]" * 100_000)


def _deep_inside(path: Path) -> None:
    path.write_text('{"temperature": 0.5, "recent": ' + "[" * 50_000 + "]" * 50_000 + "}")


def _huge(path: Path) -> None:
    with open(path, "wb") as f:  # sparse: 2 GiB of zero bytes on no disk space
        f.truncate(2 << 30)


def _big_valid(path: Path) -> None:
    path.write_text(json.dumps({"system_prompt": "x" * (3 << 20)}))


CASES = [  # (name, make, file refused: True = moved aside and defaults; False = bad values fall back one by one)
    ("deeply nested (100 000 lists)", _deep, True),
    ("deeply nested inside a valid key", _deep_inside, True),
    ("a FIFO", lambda p: os.mkfifo(p), True),
    ("a symlink to /dev/zero", lambda p: p.symlink_to("/dev/zero"), True),
    ("binary", lambda p: p.write_bytes(bytes(range(256)) * 16), True),
    ("huge (2 GiB, sparse)", _huge, True),
    ("large valid JSON (3 MB prompt)", _big_valid, True),
    ("a directory named settings.json", lambda p: p.mkdir(), True),
    ("not an object", lambda p: p.write_text("[1, 2, 3]"), True),
    ("an integer of 5000 digits", lambda p: p.write_text('{"max_units": ' + "9" * 5000 + "}"), True),
    ("wrong types", lambda p: p.write_text(json.dumps({
        "temperature": "hot", "duplex": True, "end_silence_ms": [700], "system_prompt": 5,
        "recent": {"checkpoint": "/m"}, "max_units": 2.5, "show_emotion": 1})), False),
    ("NaN", lambda p: p.write_text(
        '{"temperature": NaN, "top_p": NaN, "end_silence_ms": NaN, "barge_in_ms": NaN, "max_units": NaN}'), False),
    ("Infinity", lambda p: p.write_text(
        '{"temperature": Infinity, "end_silence_ms": -Infinity, "max_units": 1e999, '
        '"eot_max_silence_ms": Infinity}'), False),
    ("null everywhere", lambda p: p.write_text(json.dumps(
        {f.name: None for f in dataclasses.fields(AppSettings)})), False),
]
ROWS: list[str] = []


def _load_bounded(store: SettingsStore) -> tuple[object, float]:
    got: list = []
    started = time.monotonic()
    worker = threading.Thread(target=lambda: got.append(_catch(store.load)), daemon=True)
    worker.start()
    worker.join(TIME_BOUND_S)
    assert not worker.is_alive(), f"SettingsStore.load() did not return within {TIME_BOUND_S:g} s"
    return got[0], time.monotonic() - started


def _catch(fn):
    try:
        return fn()
    except BaseException as err:  # noqa: BLE001 (the table reports it)
        return err


def _finite_and_valid(settings: AppSettings) -> bool:
    values = [getattr(settings, f.name) for f in dataclasses.fields(settings)]
    settings.config()  # validates
    return all(math.isfinite(v) for v in values if isinstance(v, float))


@pytest.mark.parametrize("name,make,refused", CASES, ids=[c[0] for c in CASES])
def test_a_bad_settings_file_gives_usable_settings_and_one_line(tmp_path, name, make, refused):
    store = SettingsStore(tmp_path)
    make(store.path)
    settings, seconds = _load_bounded(store)
    assert isinstance(settings, AppSettings), f"{name}: {settings!r}"
    line = store.load_warning
    assert line and "\n" not in line and len(line) < 400, line
    assert _finite_and_valid(settings)
    if refused:
        assert settings == DEFAULTS
        assert not os.path.lexists(store.path) or store.path.is_dir(), "moved aside (or left, if it cannot move)"
        assert ".bad" in line or "left as it is" in line
    else:
        assert settings.temperature == DEFAULTS.temperature and settings.end_silence_ms == DEFAULTS.end_silence_ms
    store.save(settings)  # and the window can save its settings again
    assert SettingsStore(tmp_path).load() == settings
    shown = line.replace(str(tmp_path), "CONFIG").replace("|", "/")
    verdict = "one line (defaults, file kept as .bad)" if refused else "one line (bad values use defaults)"
    ROWS.append(f"| settings.json | {name} | {verdict} | {seconds:.2f} | {shown[:160]} |")


@pytest.mark.parametrize("doc,duplex,warned", [
    ({"barge_in": True, "barge_in_ms": 200.0, "eot_max_silence_ms": 1500.0}, "headphones", False),  # format 1
    ({"format": 2, "barge_in": True}, "headphones", False),  # chosen (off was the default)
    ({"format": 2, "barge_in": False}, "auto", False),  # the old default: today's
    ({"format": 2, "barge_in": True, "duplex": "speakers"}, "speakers", False),  # the new key wins
    ({"format": 2, "barge_in": "yes"}, "auto", True),
    ({"format": 2, "barge_in": 1}, "auto", True),
])
def test_the_old_barge_in_switch_becomes_a_duplex_mode(tmp_path, doc, duplex, warned):
    """Issue 33: `barge_in: true` (headphones, as the app told its users) is the duplex mode "headphones"; false
    was the default and takes today's ("auto"); format 1's barge_in_ms 200 was its default too."""
    store = SettingsStore(tmp_path)
    store.path.write_text(json.dumps(doc))
    settings = store.load()
    assert settings.duplex == duplex and settings.config().engine.duplex == duplex
    assert settings.barge_in_ms == DEFAULTS.barge_in_ms
    assert (store.load_warning is not None) is warned
    if warned:
        assert "barge_in" in store.load_warning and "\n" not in store.load_warning
    store.save(settings)
    saved = json.loads(store.path.read_text())
    assert "barge_in" not in saved and saved.get("duplex", "auto") == duplex
    assert SettingsStore(tmp_path).load() == settings


def teardown_module(_module) -> None:
    out = os.environ.get("SETTINGS_TABLE")
    if out and ROWS:
        head = ["| input | case | verdict | s | what the user sees |", "|---|---|---|---|---|"]
        Path(out).write_text("\n".join(head + ROWS) + "\n", encoding="utf-8")
