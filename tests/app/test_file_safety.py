"""Reliability findings about files (issue 19): the CI install (2), settings files (4), export (8), --record (9),
make-tiny-* into a real checkpoint (12)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.settings import AppSettings, SettingsStore
from app.window.turns import ConversationLog, export_conversation, load_export
from core.engine.events import ReplyAudio, UserTurnCaptured
from core.engine.recorder import SessionRecorder
from core.lm.events import AudioChunk

REPO = Path(__file__).resolve().parents[2]

# every external tool a test needs (a missing one would skip it), and the apt package that provides it
TOOL_PACKAGES = {"Xvfb": "xvfb", "import": "imagemagick", "espeak-ng": "espeak-ng", "pulseaudio": "pulseaudio",
                 "pactl": "pulseaudio-utils", "parec": "pulseaudio-utils", "paplay": "pulseaudio-utils",
                 "xdotool": "xdotool", "flite": "flite"}


# -- finding 2 ------------------------------------------------------------------------------------------------------
def test_ci_install_provides_every_tool_the_tests_need():
    text = (REPO / ".ci" / "install").read_text()
    block = re.search(r"APT_PACKAGES=\((.*?)\n\)", text, re.S).group(1)
    packages = {w for line in block.splitlines() for w in line.split("#", 1)[0].split()}
    missing = {tool: pkg for tool, pkg in TOOL_PACKAGES.items() if pkg not in packages}
    assert not missing, f".ci/install lacks {missing}"


def test_ci_run_forbids_skips_and_runs_the_readme_test_command():
    text = (REPO / ".ci" / "run").read_text()
    assert "export CI=true" in text  # tests/conftest.py turns any skip but requires_gpu into a failure
    assert "bash .ci/install" in text and text.rstrip().endswith("./test")
    assert "./test" in (REPO / "README.md").read_text()


# -- finding 4 ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("doc", [
    {"recent": [{"checkpoint": "/m", "decoder": "/d", "label": "x", "extra": 1}]},
    {"recent": None},
    {"recent": "nope"},
    {"compute_device": None},
    {"compute_device": 3, "temperature": "hot", "duplex": 1, "barge_in": 1, "max_units": 2.5, "system_prompt": None},
    {"recent": [{"checkpoint": "/m", "decoder": None}, 7, {"checkpoint": "/m", "decoder": "/d", "label": 5}]},
])
def test_odd_settings_values_fall_back_instead_of_crashing(tmp_path, doc):
    store = SettingsStore(tmp_path)
    store.path.write_text(json.dumps(doc))
    settings = store.load()
    assert isinstance(settings, AppSettings) and settings.compute_device == "auto"
    assert all(isinstance(r.label, str) for r in settings.recent)
    if doc.get("recent") and isinstance(doc["recent"], list) and isinstance(doc["recent"][0], dict):
        assert [r.checkpoint for r in settings.recent][:1] == ["/m"]


# -- finding 8 ------------------------------------------------------------------------------------------------------
def _log(turns: int) -> ConversationLog:
    log = ConversationLog()
    for i in range(1, turns + 1):
        u = log.get_or_add("user", i)
        u.chunks, u.sample_rate_hz, u.text = [np.full(1600, 0.1, np.float32)], 16000, f"q{i}"
        a = log.get_or_add("assistant", i)
        a.chunks, a.sample_rate_hz, a.text = [np.full(2205, 0.2, np.float32)], 22050, f"a{i}"
    return log


def test_export_replaces_an_earlier_export_without_leftovers(tmp_path):
    export_conversation(_log(3), tmp_path)
    export_conversation(_log(1), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "conversation.json", "turn_001_assistant.wav", "turn_001_user.wav"]
    assert [r.text for r in load_export(tmp_path).turns] == ["q1", "a1"]


def test_a_failed_export_leaves_the_earlier_one_intact(tmp_path, monkeypatch):
    export_conversation(_log(2), tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real_write = sf.SoundFile.write
    calls = []

    def failing_write(self, data):  # the disk fills on the third WAV
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("Error writing: No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(sf.SoundFile, "write", failing_write)
    with pytest.raises(RuntimeError):
        export_conversation(_log(3), tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temporary files, nothing changed


# -- finding 9 ------------------------------------------------------------------------------------------------------
def _user(tid: int) -> UserTurnCaptured:
    return UserTurnCaptured(tid, np.full(16000, 0.1, np.float32), 16000, 0.0, 0.9, 1.6, "silence")


def _audio(tid: int) -> ReplyAudio:
    return ReplyAudio(tid, AudioChunk(np.full(2205, 0.2, np.float32), 22050, 0, False))


def test_a_second_recording_into_the_same_folder_keeps_the_first(tmp_path):
    first = SessionRecorder(tmp_path)
    first(_user(1))
    first(_audio(1))
    first.close()
    data = (tmp_path / "user_001.wav").read_bytes()
    second = SessionRecorder(tmp_path)
    second(_user(1))
    second.close()
    assert (tmp_path / "user_001.wav").read_bytes() == data
    assert (tmp_path / "run2_user_001.wav").exists() and (tmp_path / "reply_001.wav").exists()
    assert not list(tmp_path.glob("*.tmp"))


def test_a_reply_cut_short_by_a_crash_is_linked_from_the_log(tmp_path):
    rec = SessionRecorder(tmp_path)
    rec(_user(1))
    rec(_audio(1))  # ... and the process dies here: no ReplyEnded, no close()
    lines = [json.loads(x) for x in (tmp_path / "session.jsonl").read_text().splitlines()]
    linked = [x["file"] for x in lines if x.get("turn_id") == 1 and "reply" in x.get("file", "")]
    assert linked == ["reply_001.wav"] and sf.info(str(tmp_path / linked[0])).frames == 2205


# -- finding 12 -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["make-tiny-checkpoint", "make-tiny-decoder"])
def test_make_tiny_refuses_a_folder_that_holds_files(tmp_path, command, capsys):
    from app.cli import build_parser, run_cli

    real = tmp_path / "real"
    real.mkdir()
    (real / "config.json").write_text('{"real": true}')
    assert run_cli([command, str(real)], build_parser()) == 2
    assert "not empty (config.json); pick an empty folder, or pass --force" in capsys.readouterr().err
    assert (real / "config.json").read_text() == '{"real": true}'


# -- issue 31, finding 9: export removes only what it wrote ----------------------------------------------------------
def test_export_never_removes_or_overwrites_the_users_own_files(tmp_path):
    (tmp_path / "turn_100_my_song.wav").write_bytes(b"my song")
    (tmp_path / "notes.txt").write_text("my notes")
    (tmp_path.parent / "outside.txt").write_text("outside")
    export_conversation(_log(2), tmp_path)  # an export of this app beside the user's files
    doc = json.loads((tmp_path / "conversation.json").read_text())
    # an earlier export's list naming the user's files (and one outside the folder): never followed
    doc["files"] = doc.get("files", []) + [{"name": "notes.txt", "bytes": 8, "sha256": "0" * 64},
                                           {"name": "../outside.txt"}, {"name": "turn_100_my_song.wav"}]
    doc["turns"].append({"turn_id": 100, "role": "user", "text": "", "audio": "turn_100_my_song.wav"})
    (tmp_path / "conversation.json").write_text(json.dumps(doc))
    export_conversation(_log(1), tmp_path)
    assert (tmp_path / "turn_100_my_song.wav").read_bytes() == b"my song"
    assert (tmp_path / "notes.txt").read_text() == "my notes" and (tmp_path.parent / "outside.txt").exists()
    assert not (tmp_path / "turn_002_user.wav").exists()  # the earlier export's own, unchanged turn: removed


def test_export_keeps_a_changed_earlier_wav_and_refuses_a_foreign_file_at_its_name(tmp_path):
    export_conversation(_log(2), tmp_path)
    (tmp_path / "turn_002_user.wav").write_bytes(b"edited by the user")
    export_conversation(_log(1), tmp_path)
    assert (tmp_path / "turn_002_user.wav").read_bytes() == b"edited by the user"  # changed since: not ours now
    other = tmp_path / "other"
    other.mkdir()
    (other / "turn_001_user.wav").write_bytes(b"mine")
    (other / "conversation.json").write_text('{"turns": [{"audio": "notes.txt"}]}')
    with pytest.raises(FileExistsError, match="did not write"):
        export_conversation(_log(1), other)
    assert (other / "turn_001_user.wav").read_bytes() == b"mine" and len(list(other.iterdir())) == 2
