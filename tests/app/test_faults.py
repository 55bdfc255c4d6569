"""The fault-injection suite (issue 19): each case injects one fault, checks the one line the user sees, and checks
that nothing already said or heard is lost. docs/faults.md has the table. Cases that live in other files:

| fault | test |
|---|---|
| a device vanishes mid-reply | engine/test_fake_devices.py::test_device_vanishing_mid_reply_goes_idle_and_restarts |
| PulseAudio killed, then restarted | audio/test_pulse.py::test_server_death_mid_reply_is_reported_and_recoverable |
| the model raises mid-reply | engine/test_fake_devices.py::test_model_raising_mid_reply_keeps_heard_text_and_recovers |
| the vocoder raises | engine/test_fake_devices.py::test_vocoder_raising_reports_and_recovers |
| a cached ONNX graph is corrupt | voice/test_onnx.py::test_truncated_or_empty_graphs_are_rebuilt |

Here: an output or input stream stalls, the disk fills while recording (RLIMIT_FSIZE child), memory runs out
during a load (RLIMIT_AS child), the settings file is corrupt, SIGTERM arrives during a reply.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from app.settings import AppSettings, SettingsStore
from core.engine.config import AudioConfig, EngineConfig
from core.engine.engine import Engine
from core.engine.events import EngineError, EngineState, ErrorKind, ReplyEnded, StateChanged
from core.turns.config import VadConfig
from tests.engine_fakes import Collector, FakeAudio, FakeConversation, FakeDecoder, FakeRunner, default_script

REPO = Path(__file__).resolve().parents[2]
CLIP = np.full(16000, 0.1, np.float32)


def _child(code: str, *args: str, timeout_s: float = 240) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter from this worktree (its own rlimits)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout_s)


# -- an output or input stream stalls (stays "active", stops calling back) --------------------------------------------
@pytest.mark.parametrize("kind", ["output", "input"])
def test_a_stalled_stream(kind):
    cfg = EngineConfig(vad=VadConfig(end_silence_ms=500), audio=AudioConfig(prebuffer_ms=60, stall_timeout_s=0.5))
    events, conv, audio = Collector(), FakeConversation(), FakeAudio()
    eng = Engine(FakeRunner(default_script(words=40), step_s=0.02), FakeDecoder(), config=cfg, sink=events,
                 audio=audio, conversation=conv)
    try:
        eng.start()
        eng.submit_turn(CLIP)
        events.wait_for(lambda e: isinstance(e, StateChanged) and e.new is EngineState.SPEAKING, 20)
        time.sleep(1.0)  # a few words heard
        audio.stream(kind).stalled = True
        err = events.wait_for(lambda e: isinstance(e, EngineError) and e.fatal, 10)
        end = events.wait_for(lambda e: isinstance(e, ReplyEnded), 10)
        events.wait_for(lambda e: isinstance(e, StateChanged) and e.new is EngineState.IDLE, 10)
    finally:
        eng.stop()
    # the line: "The output device 'fake' stopped delivering audio 0.5 s ago (unplugged, or the sound server went
    # away); reconnect it, then start again."
    assert err.kind is (ErrorKind.OUTPUT_DEVICE if kind == "output" else ErrorKind.INPUT_DEVICE)
    assert "stopped delivering audio" in err.message and "reconnect" in err.message and "\n" not in err.message
    assert end.played_s > 0 and end.heard_text and end.text.startswith(end.heard_text)
    assert conv.turns[0][0] == "user" and conv.turns[-1] == ("assistant", end.heard_text)


# -- the disk fills while recording (every file capped by RLIMIT_FSIZE) ----------------------------------------------
DISK_FULL = r"""
import json, resource, signal, sys
from pathlib import Path
import numpy as np
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead of killing us
from app.window.journal import ConversationJournal, read_journal
from core.engine.events import ReplyAudio, ReplyEnded, ReplyText, UserTurnCaptured
from core.engine.recorder import SessionRecorder
from core.lm.events import AudioChunk, StopReason, TextDelta
out = Path(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))
seen = []
rec = SessionRecorder(out / "rec", seen.append)
journal = ConversationJournal(out / "data")
lines = []
journal.on_failure = lines.append
chunk = np.full(2205, 0.2, np.float32)
events = [UserTurnCaptured(1, np.full(16000, 0.1, np.float32), 16000, 0.0, 0.9, 1.6, "silence"),
          ReplyText(1, TextDelta("Hello there", (5,)))]
events += [ReplyAudio(1, AudioChunk(chunk, 22050, i, False)) for i in range(40)]  # 40 x 4.4 KB: past 100 KB
events += [ReplyEnded(1, StopReason.EOS, "Hello there", "Hello there", False, 4.0, 4.0, 0)]
for ev in events:
    rec(ev)
    journal.handle(ev)
rec.close()
journal.close()
kept = read_journal(journal.dir)
print(json.dumps({"forwarded": len(seen), "notices": [e.message for e in seen if hasattr(e, "message")],
                  "rec_failed": rec.failed, "journal_lines": lines,
                  "journal_user_text": kept.find("user", 1) is not None,
                  "journal_reply_samples": int(kept.find("assistant", 1).audio().size)}))
"""


def test_the_disk_fills_while_recording(tmp_path):
    res = _child(DISK_FULL, str(tmp_path))
    assert res.returncode == 0, res.stderr[-3000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    # the conversation went on: every event reached the front end, plus one line about the recording
    assert got["forwarded"] == 44
    notice = got["notices"]
    assert len(notice) == 1 and notice[0].startswith("Recording to") and "conversation goes on" in notice[0]
    assert len(got["journal_lines"]) == 1 and "journal stopped" in got["journal_lines"][0]
    # what was written before the disk filled is intact and readable
    import soundfile as sf

    log = [json.loads(x) for x in (tmp_path / "rec" / "session.jsonl").read_text().splitlines()]
    assert log[0]["file"] == "user_001.wav" and sf.info(str(tmp_path / "rec" / "user_001.wav")).frames == 16000
    assert any(x.get("file") == "reply_001.wav" for x in log)
    reply = sf.read(str(tmp_path / "rec" / "reply_001.wav"), dtype="float32")[0]
    assert 10 * 2205 <= reply.size < 40 * 2205 and np.allclose(reply, 0.2, atol=1e-4)
    assert got["journal_user_text"] and 10 * 2205 <= got["journal_reply_samples"] < 40 * 2205


# -- memory runs out during a load (RLIMIT_AS) -----------------------------------------------------------------------
OUT_OF_MEMORY = r"""
import re, resource, sys, logging
logging.disable(logging.WARNING)
def vm():
    return int(re.search(r"VmSize:\s+(\d+)", open("/proc/self/status").read()).group(1)) * 1024
from app.window.model_loader import LoadRequest, ModelLoader
from app.settings import AppSettings
settings = AppSettings(asr_checkpoint=None, ser_checkpoint=None, text_emotion_checkpoint=None)
req = LoadRequest(sys.argv[1], sys.argv[2])
out = {}
first = ModelLoader(req, settings)
first.loaded.connect(lambda runner, _vocoder, _plan, _req: out.update(runner=runner))
first.run()
second = ModelLoader(req, settings)
second.failed.connect(lambda msg: out.update(failed=msg))
second.loaded.connect(lambda *a: out.update(loaded_again=True))
resource.setrlimit(resource.RLIMIT_AS, (vm() + 16 * 2**20, resource.RLIM_INFINITY))
second.run()
resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
from core.lm.conversation import Conversation
from core.lm.sampling import SamplingConfig
conv = Conversation()
conv.add_user_text("Still there?")
events = list(out["runner"].reply(conv, SamplingConfig(max_text_tokens=4, max_units=8, greedy=True)))
print("FAILED:", out.get("failed"))
print("AGAIN:", out.get("loaded_again"))
print("PREVIOUS:", type(events[-1]).__name__, events[-1].reason.value)
"""


def test_memory_runs_out_during_a_load(tiny_checkpoint, tiny_decoder):
    res = _child(OUT_OF_MEMORY, str(tiny_checkpoint), str(tiny_decoder))
    assert res.returncode == 0, res.stderr[-3000:]
    lines = dict(line.split(": ", 1) for line in res.stdout.splitlines() if line[:6] in ("FAILED", "AGAIN:", "PREVIO"))
    assert lines["FAILED"].startswith("Not enough memory to load this model; close other programs, or pick a "
                                      "smaller model or --weights int8.")
    assert "\n" not in lines["FAILED"]
    assert lines["AGAIN"] == "None"
    assert lines["PREVIOUS"].startswith("TurnEnd")  # the model already loaded still answers


# -- the settings file is corrupt ------------------------------------------------------------------------------------
def test_a_corrupt_settings_file(tmp_path):
    store = SettingsStore(tmp_path)
    store.path.write_bytes(b'{"show_emotion": fal\x00')
    assert store.load() == AppSettings()
    # the line (the window's status bar): "The settings file was unreadable (...); using defaults (the old file is
    # kept as .../settings.json.bad)."
    assert store.load_warning and "\n" not in store.load_warning and ".bad" in store.load_warning
    assert (tmp_path / "settings.json.bad").read_bytes() == b'{"show_emotion": fal\x00'  # nothing thrown away
    assert not store.path.exists()


# -- SIGTERM during a reply ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_sigterm_during_a_reply(pulse_server, tmp_path):
    from app.window.history import ConversationHistory
    from app.window.journal import read_journal

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS="1",
               OPENS2S_COMPANION_CONFIG_DIR=str(tmp_path / "config"),
               OPENS2S_COMPANION_DATA_DIR=str(tmp_path / "data"))
    log_path = tmp_path / "app.log"
    with open(log_path, "w") as out:
        proc = subprocess.Popen([sys.executable, "main.py", "-v", "--demo", "--send", "Tell me a long story."],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while "-> speaking" not in log_path.read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log_path.read_text(errors="replace")
    assert rc == 0, text[-3000:]
    assert "signal 15: closing the window" in text and "abandoning" not in text and "Traceback" not in text
    (filed,) = ConversationHistory(tmp_path / "data" / "journal" / "conversations").entries()  # a clean quit
    kept = read_journal(filed.path)
    user, reply = kept.find("user", 1), kept.find("assistant", 1)
    assert user.text == "Tell me a long story." and reply is not None
    assert reply.interrupted and reply.chunks and reply.audio().size > 0  # what was heard (and said) is kept
