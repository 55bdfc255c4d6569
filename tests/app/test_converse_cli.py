"""`converse` / `devices` commands: option validation, transcript printing, device listing (no audio needed)."""

from __future__ import annotations

import argparse
import io
from types import SimpleNamespace

import numpy as np
import pytest

from app.commands import converse, devices
from core.engine.events import (
    BargeIn,
    EngineError,
    EngineState,
    ErrorKind,
    ReplyEnded,
    ReplyText,
    StateChanged,
    UserTurnCaptured,
)
from core.lm.events import StopReason, TextDelta
from models.errors import UserError


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers()
    converse.register(sub)
    devices.register(sub)
    return p.parse_args(list(argv))


def test_converse_options_become_a_validated_config():
    args = parse(
        "converse",
        "--checkpoint",
        "c",
        "--decoder",
        "d",
        "--barge-in",
        "--input-device",
        "3",
        "--output-device",
        "USB",
        "--end-silence-ms",
        "500",
        "--max-turn-ms",
        "10000",
    )
    cfg = converse.build_config(args).engine
    assert cfg.barge_in and cfg.audio.input_device == 3 and cfg.audio.output_device == "USB"
    assert cfg.vad.end_silence_ms == 500 and cfg.vad.max_turn_ms == 10000
    with pytest.raises(UserError, match="--end-silence-ms.*end_silence_ms"):
        converse.build_config(parse("converse", "--checkpoint", "c", "--decoder", "d", "--end-silence-ms", "0"))


def test_transcript_printer_shows_state_turns_text_and_errors():
    out = io.StringIO()
    p = converse.TranscriptPrinter(out)
    for ev in [
        StateChanged(EngineState.IDLE, EngineState.LISTENING, "started"),
        UserTurnCaptured(1, np.zeros(24000, np.float32), 16000, 0.0, 1.0, 1.7, "silence"),
        StateChanged(EngineState.LISTENING, EngineState.THINKING, "turn_captured"),
        ReplyText(1, TextDelta("Hi there.", (1,))),
        StateChanged(EngineState.THINKING, EngineState.SPEAKING, "first_audio"),
        BargeIn(1, 200.0),
        ReplyEnded(1, StopReason.CANCELLED, "Hi there.", "Hi", True, 0.1, 0.2, 0),
        EngineError(ErrorKind.MODEL, "The model failed."),
        StateChanged(EngineState.SPEAKING, EngineState.LISTENING, "barge_in"),
    ]:
        p(ev)
    assert out.getvalue() == (
        "\n[listening]\nyou: (1.5 s of speech)\nbot: Hi there. [interrupted]\n"
        "  (heard: 'Hi')\n! The model failed.\n[listening]"
    )


def test_devices_lists_defaults():
    backend = SimpleNamespace(
        default=SimpleNamespace(device=[1, 0]),
        query_devices=lambda: [
            {"name": "spk", "max_input_channels": 0, "max_output_channels": 2, "default_samplerate": 48000.0},
            {"name": "mic", "max_input_channels": 1, "max_output_channels": 0, "default_samplerate": 16000.0},
        ],
    )
    rows = devices.list_devices(backend)
    assert [(r["name"], r["default_input"], r["default_output"]) for r in rows] == [
        ("spk", False, True),
        ("mic", True, False),
    ]
