"""Exports (issue 34, finding 15): WAVs every player and sox read without a warning, and transcripts as the window
shows them (no control characters, no U+FFFD; "(nothing readable)" where the bubble says so)."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess

import numpy as np
import pytest

from app.readable import NOTHING_READABLE, readable, shown_text
from app.window.turns import ConversationLog, export_conversation, load_export

DEMO_GIBBERISH = "\x06\x0c" + "\ufffd" * 128  # what a random demo listener's transcript looks like


def _riff_chunks(data: bytes) -> dict[bytes, bytes]:
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    chunks, pos = {}, 12
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        chunks[cid] = data[pos + 8:pos + 8 + size]
        pos += 8 + size + (size & 1)
    return chunks


def _demo_log() -> ConversationLog:
    log = ConversationLog()
    user = log.get_or_add("user", 1)
    user.text, user.chunks, user.sample_rate_hz = DEMO_GIBBERISH, [np.full(1600, 0.25, np.float32)], 16000
    reply = log.get_or_add("assistant", 1)
    reply.text = "Hi\x07 there\ufffd"
    reply.chunks, reply.sample_rate_hz = [np.array([0.5, -1.5, 2.0, 0.0], np.float32)], 22050  # may overshoot
    reply.interrupted, reply.heard_text = True, "Hi\x07"
    typed = log.get_or_add("user", 2)
    typed.text, typed.typed = "", True
    return log


def test_export_wavs_are_16_bit_pcm_with_a_complete_header_that_sox_reads_without_warning(tmp_path):
    export_conversation(_demo_log(), tmp_path)
    for name, rate in (("turn_001_user.wav", 16000), ("turn_001_assistant.wav", 22050)):
        chunks = _riff_chunks((tmp_path / name).read_bytes())
        fmt = chunks[b"fmt "]
        tag, channels, rate_hz, byte_rate, align, bits = struct.unpack("<HHIIHH", fmt[:16])
        assert (tag, channels, rate_hz, bits) == (1, 1, rate, 16)  # WAVE_FORMAT_PCM: a 16-byte fmt chunk is whole
        assert len(fmt) == 16 and byte_rate == rate * 2 and align == 2
        assert b"data" in chunks
    back = load_export(tmp_path)
    np.testing.assert_allclose(back.turns[1].audio(), [0.5, -1.0, 1.0, 0.0], atol=1 / 32767)  # clipped, not wrapped
    if shutil.which("sox") is None:  # .ci/install puts sox on every machine that runs the tests
        pytest.fail("sox is not installed (see .ci/install)")
    for name in ("turn_001_user.wav", "turn_001_assistant.wav"):
        res = subprocess.run(["sox", "--i", str(tmp_path / name)], capture_output=True, text=True, timeout=30)
        assert res.returncode == 0 and "16-bit Signed Integer PCM" in res.stdout, res
        assert res.stderr.strip() == "", res.stderr  # no "wave header missing extended part of fmt chunk"


def test_exported_texts_are_what_the_window_shows_never_control_characters_or_replacement_chars(tmp_path):
    doc = json.loads(export_conversation(_demo_log(), tmp_path).read_text(encoding="utf-8"))
    texts = [(t["role"], t["text"]) for t in doc["turns"]]
    assert texts == [("user", NOTHING_READABLE), ("assistant", "Hi there"), ("user", "")]
    assert doc["turns"][1]["heard_text"] == "Hi"
    raw = (tmp_path / "conversation.json").read_text(encoding="utf-8")
    assert "\ufffd" not in raw and "\\u00" not in raw  # json.dumps writes a control character as \u00XX


def test_one_cleaning_for_bubble_export_and_terminal():
    assert readable("a\x0cb\x06c\ufffd\nd\te") == "abc\nd\te"
    assert shown_text(DEMO_GIBBERISH) == NOTHING_READABLE
    assert shown_text("") == "" and shown_text(None) == "" and shown_text("  ") == "  "
