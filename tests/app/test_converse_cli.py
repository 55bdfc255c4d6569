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
    DuplexResolved,
    EngineError,
    EngineState,
    ErrorKind,
    ReplyEnded,
    ReplyText,
    StateChanged,
    UserTurnCaptured,
)
from core.listeners.events import ListenerStatus, TurnEmotion, UserTranscript
from core.lm.events import EmotionLabel, StopReason, TextDelta
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
        "--duplex",
        "speakers",
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
    assert cfg.duplex == "speakers" and cfg.audio.input_device == 3 and cfg.audio.output_device == "USB"
    assert cfg.vad.end_silence_ms == 500 and cfg.vad.max_turn_ms == 10000
    with pytest.raises(UserError, match="--end-silence-ms.*end_silence_ms"):
        converse.build_config(parse("converse", "--checkpoint", "c", "--decoder", "d", "--end-silence-ms", "0"))


def _engine(*flags: str):
    return converse.build_config(parse("converse", "--checkpoint", "c", "--decoder", "d", *flags)).engine


def test_duplex_interruption_and_echo_flags_and_the_old_barge_in_alias():
    assert _engine().duplex == "auto"
    assert _engine("--duplex", "speakers").duplex == "speakers"
    assert _engine("--barge-in").duplex == "headphones"  # deprecated: --duplex headphones
    assert _engine("--no-barge-in").duplex == "half"
    assert _engine("--barge-in", "--duplex", "half").duplex == "half"  # the last one given wins
    cfg = _engine("--interruption", "immediate", "--barge-in-ms", "160", "--backchannel-ms", "700",
                  "--backchannel-gap-ms", "256", "--echo-noise-suppression", "--echo-ns-level", "2")
    assert (cfg.interruption, cfg.barge_in_ms, cfg.backchannel_ms, cfg.backchannel_gap_ms) == (
        "immediate", 160.0, 700.0, 256.0)
    assert cfg.echo.noise_suppression and cfg.echo.ns_level == 2
    assert not _engine("--no-echo-noise-suppression").echo.noise_suppression
    with pytest.raises(SystemExit):
        _engine("--duplex", "loud")
    with pytest.raises(UserError, match="--backchannel-ms"):
        _engine("--barge-in-ms", "300", "--backchannel-ms", "200")


def test_converse_help_names_the_duplex_modes_and_the_deprecated_flag(capsys):
    with pytest.raises(SystemExit):
        parse("converse", "--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "--duplex {auto,speakers,headphones,half}" in text
    assert "--barge-in deprecated: the same as --duplex headphones" in text
    assert "--echo-noise-suppression, --no-echo-noise-suppression" in text


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
        "  (interrupted — heard: “Hi”)\n! The model failed.\n[listening]"
    )


def test_transcript_printer_shows_what_the_listeners_found_as_the_window_does_after_the_reply_line():
    """Issue 34, findings 7 and 16: the user's transcript and both emotion labels, cleaned as the bubble is (no
    "�", "(nothing readable)"); listener lines that come during the reply wait until its line is done."""
    out = io.StringIO()
    p = converse.TranscriptPrinter(out)
    demo = "/data/demo/listeners/asr"
    for ev in [
        ListenerStatus("asr", False, "loading", checkpoint=demo),
        ListenerStatus("asr", True, "ready", checkpoint=demo),
        ListenerStatus("user_emotion", False, "not downloaded: superb/x is not in the hub cache"),
        StateChanged(EngineState.LISTENING, EngineState.THINKING, "turn_captured"),
        ReplyText(1, TextDelta("Hi", (1,))),
        UserTranscript(None, "hel", is_final=False),  # partials are the window's live bubble, not a line here
        UserTranscript(1, "\x06\ufffd\ufffd", is_final=True),  # a random demo listener's transcript
        TurnEmotion(1, EmotionLabel("user", "happy", 0.305), is_final=True),
        ReplyText(1, TextDelta(" there", (2,))),
        BargeIn(1, 200.0),
        ReplyEnded(1, StopReason.CANCELLED, "Hi there", "Hi\ufffd\x07", True, 0.1, 0.2, 0),
        StateChanged(EngineState.SPEAKING, EngineState.LISTENING, "barge_in"),
        TurnEmotion(1, EmotionLabel("assistant", "calm", 0.47), is_final=False),  # provisional: the final follows
        TurnEmotion(1, EmotionLabel("assistant", "angry", 0.4655), is_final=True),
        UserTranscript(2, "good \x0cmorning", is_final=True),
    ]:
        p(ev)
    assert out.getvalue() == (
        "\n[transcript: on (random demo)]\n[your emotion: off — not downloaded: superb/x is not in the hub cache]"
        "\nbot: Hi there [interrupted]\n  (interrupted — heard: “Hi”)"
        "\n  you said: “(nothing readable)”\n  your emotion: happy · 30%\n[listening]"
        "\n  reply emotion: angry · 47%\n  you said: “good morning”"
    )
    assert "\ufffd" not in out.getvalue() and "\x06" not in out.getvalue()


def test_converse_demo_runs_the_demo_listeners_and_feeds_them_the_engine_events(monkeypatch, tmp_path):
    import app.demo

    monkeypatch.setenv("OPENS2S_COMPANION_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(app.demo, "ensure_demo", lambda root: (root / "demo" / "model", root / "demo" / "decoder"))
    config = converse.build_config(parse("converse", "--demo"))
    dirs = app.demo.demo_listener_dirs(tmp_path)
    assert (config.listeners.asr_checkpoint, config.listeners.ser_checkpoint,
            config.listeners.text_emotion_checkpoint) == (str(dirs["asr"]), str(dirs["ser"]), str(dirs["text_emotion"]))
    assert parse("converse", "--demo", "--no-listeners").no_listeners
    assert converse.build_config(parse("converse", "--checkpoint", "c", "--decoder", "d", "--asr-checkpoint",
                                       "/my/whisper")).listeners.asr_checkpoint == "/my/whisper"

    calls, printed = [], []
    lis = SimpleNamespace(on_user_turn=lambda t, s: calls.append(("turn", t)),
                          on_assistant_text=lambda t, text: calls.append(("text", t, text)),
                          on_reply_end=lambda t: calls.append(("end", t)))
    sink = converse.with_listeners(printed.append, lis)
    turn = UserTurnCaptured(3, np.zeros(1600, np.float32), 16000, 0.0, 0.1, 0.2, "silence")
    for ev in (turn, ReplyText(3, TextDelta("Hi", (1,))), ReplyEnded(3, StopReason.EOS, "Hi", "Hi", False, 0, 0, 0)):
        sink(ev)
    assert calls == [("turn", 3), ("text", 3, "Hi"), ("end", 3)] and len(printed) == 3


def test_transcript_printer_says_which_duplex_mode_runs():
    out = io.StringIO()
    converse.TranscriptPrinter(out)(DuplexResolved("headphones", "the output device 'AirPods' is headphones"))
    assert out.getvalue() == "\n[microphone while speaking: Headphones — the output device 'AirPods' is headphones]"


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
