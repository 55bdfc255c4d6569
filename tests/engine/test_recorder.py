"""--record: WAV per user turn / reply and a JSONL log, readable at every moment (crash-safe)."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf

from core.audio.levels import MicLevel
from core.engine.events import EngineError, ErrorKind, ReplyAudio, ReplyEnded, ReplyText, UserTurnCaptured
from core.engine.recorder import SessionRecorder
from core.lm.events import AudioChunk, StopReason, TextDelta


def lines(path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_recording_is_complete_while_the_reply_is_still_playing(tmp_path):
    seen = []
    rec = SessionRecorder(tmp_path / "rec", seen.append)
    rec(UserTurnCaptured(1, np.full(16000, 0.1, np.float32), 16000, 0.0, 0.9, 1.6, "silence"))
    rec(MicLevel(-40.0, 0.1, 0.0, False))
    rec(ReplyText(1, TextDelta("Hi there", (5,))))
    rec(ReplyAudio(1, AudioChunk(np.full(2205, 0.2, np.float32), 22050, 0, False)))
    # mid-reply, nothing closed: everything so far is already on disk and valid
    log = lines(tmp_path / "rec" / "session.jsonl")
    assert [x["type"] for x in log] == ["UserTurnCaptured", "ReplyText", "ReplyAudioStarted"]
    assert log[2]["file"] == "reply_001.wav"  # linked at its first chunk: a crash mid-reply leaves it findable
    assert log[1]["delta"]["text"] == "Hi there" and log[0]["file"] == "user_001.wav"
    assert sf.info(str(tmp_path / "rec" / "user_001.wav")).frames == 16000
    assert sf.info(str(tmp_path / "rec" / "reply_001.wav")).frames == 2205
    rec(ReplyAudio(1, AudioChunk(np.full(2205, 0.2, np.float32), 22050, 1, False)))
    rec(ReplyEnded(1, StopReason.CANCELLED, "Hi there", "Hi", True, 0.1, 0.2, 0))
    rec(EngineError(ErrorKind.MODEL, "boom"))
    log = lines(tmp_path / "rec" / "session.jsonl")
    assert log[3]["type"] == "ReplyEnded" and log[3]["heard_text"] == "Hi" and log[3]["file"] == "reply_001.wav"
    assert log[4]["kind"] == "model"
    assert sf.info(str(tmp_path / "rec" / "reply_001.wav")).frames == 4410
    assert len(seen) == 7  # everything was forwarded, levels included
    rec.close()


def test_mic_streams_are_kept_before_and_after_echo_cancellation(tmp_path):
    from core.engine.mic_recorder import CLEAN_NAME, RAW_NAME, MicStreamRecorder

    rec = MicStreamRecorder(tmp_path)
    raw = np.linspace(-0.5, 0.5, 320, dtype=np.float32)
    for _ in range(50):
        rec.tap(raw, raw[:160] * 0.1)
    rec.close()
    got_raw, rate = sf.read(str(tmp_path / RAW_NAME), dtype="float32")
    got_clean, _ = sf.read(str(tmp_path / CLEAN_NAME), dtype="float32")
    assert rate == 16000 and got_raw.size == 50 * 320 and got_clean.size == 50 * 160
    assert np.allclose(got_raw[:320], raw, atol=1 / 32768)
