"""`converse`: a headless voice conversation through the realtime engine, printing the live transcript."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from app.config import CompanionConfig, ComputeConfig, ModelSource
from app.flags import FlagAlias, FlagGroup, add_flags, apply_flags
from core.audio.duplex import DUPLEX_LABELS
from core.engine.events import (
    BargeIn,
    DuplexResolved,
    EngineError,
    EngineState,
    ReplyEnded,
    ReplyText,
    StateChanged,
    UserTurnCaptured,
)
from core.turns.events import SpeechIgnored
from models.errors import DeviceError, UserError

log = logging.getLogger(__name__)

RETRY_S = 2.0  # after a device loss, try to reopen this often
# the barge-in switch of before issue 33 (off was the default: half duplex)
BARGE_IN_ALIASES = (
    FlagAlias("--barge-in", "duplex", "headphones", "deprecated: the same as --duplex headphones"),
    FlagAlias("--no-barge-in", "duplex", "half", "deprecated: the same as --duplex half"),
)


def turn_flag_groups() -> tuple[FlagGroup, ...]:
    """The turn-taking flags (`converse` and `main.py turns` offer the same ones)."""
    from core.engine.config import EngineConfig
    from core.turns.config import EndOfTurnConfig, VadConfig

    return (
        FlagGroup("engine", EngineConfig, fields=("duplex", "interruption", "barge_in_ms", "backchannel_ms",
                                                  "backchannel_gap_ms"), title="turn-taking", aliases=BARGE_IN_ALIASES),
        FlagGroup("engine.vad", VadConfig, fields=("end_silence_ms", "speculate_after_ms", "max_turn_ms"),
                  title="turn-taking"),
        FlagGroup("engine.end_of_turn", EndOfTurnConfig, fields=("semantic", "smart_turn_model"), title="turn-taking"),
        FlagGroup("engine.end_of_turn", EndOfTurnConfig, prefix="eot-", title="turn-taking",
                  fields=("policy", "commit_score", "full_duplex_commit_score", "commit_prob", "hold_prob",
                          "first_check_ms", "max_silence_ms", "rejoin_ms")),
    )


def flag_groups() -> tuple[FlagGroup, ...]:
    """The config fields `converse` offers as flags (defaults and help come from the fields)."""
    from core.audio.echo import EchoConfig
    from core.engine.config import AudioConfig
    from core.lm.sampling import SamplingConfig
    from core.voice.config import VoiceConfig

    return (
        FlagGroup("model", ModelSource, title="models"),
        FlagGroup("compute", ComputeConfig, title="compute"),
        FlagGroup("voice", VoiceConfig, prefix="vocoder-", title="voice"),
        FlagGroup("engine.audio", AudioConfig, fields=("input_device", "output_device", "input_rate_hz",
                                                        "output_rate_hz"), title="audio devices"),
        *turn_flag_groups(),
        FlagGroup("engine.echo", EchoConfig, prefix="echo-", fields=("noise_suppression", "ns_level", "delay_hint_ms"),
                  title="echo cancellation (--duplex speakers)"),
        FlagGroup("sampling", SamplingConfig, fields=("temperature", "top_p", "seed", "max_text_tokens", "max_units"),
                  title="sampling"),
        FlagGroup("", CompanionConfig, fields=("warm_up",)),
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("converse", help="talk to the model through the microphone and speaker")
    p.add_argument("--demo", action="store_true",
                   help="use the offline demo checkpoint (random weights: gibberish), made on first use")
    add_flags(p, flag_groups())
    p.add_argument("--record", type=Path, help="keep every turn's audio and a JSONL log in this directory")
    p.add_argument("--record-mic", action="store_true",
                   help="debug: also keep the whole microphone stream before and after echo cancellation "
                        "(mic_raw.wav, mic_clean.wav in the --record dir)")
    p.add_argument("--duration-s", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace) -> CompanionConfig:
    """The config `converse` runs: the defaults with the given flags applied; --demo fills in its folders."""
    config = apply_flags(CompanionConfig(), args, flag_groups())
    if getattr(args, "demo", False):
        from app.demo import demo_config
        from app.settings import data_dir

        config = demo_config(config, data_dir())
        print("demo checkpoint: random weights, it speaks gibberish", file=sys.stderr, flush=True)
    elif config.model.checkpoint is None or config.model.decoder is None:
        raise UserError("converse needs --checkpoint (a folder or a hub id) and --decoder, or --demo")
    return config


class TranscriptPrinter:
    """Prints state, turns, streaming reply text and errors to stdout."""

    def __init__(self, out=None) -> None:
        self._out = out or sys.stdout

    def __call__(self, ev: object) -> None:
        w = self._out.write
        if isinstance(ev, StateChanged):
            if ev.new is EngineState.THINKING:
                w("\nbot: ")
            elif ev.new is not EngineState.SPEAKING:
                w(f"\n[{ev.new.value}]")
        elif isinstance(ev, UserTurnCaptured):
            more = f", going on from turn {ev.continues_turn}" if ev.continues_turn is not None else ""
            w(f"\nyou: ({ev.samples.size / ev.sample_rate_hz:.1f} s of speech{more})")
        elif isinstance(ev, SpeechIgnored):
            w("\n! (heard speech while talking; the microphone is off while the app speaks: if that was you, "
              "say it again — to interrupt by speaking, use --duplex speakers (echo cancellation) or --duplex "
              "headphones)")
        elif isinstance(ev, DuplexResolved):
            w(f"\n[microphone while speaking: {DUPLEX_LABELS.get(ev.mode, ev.mode)} — {ev.reason}]")
        elif isinstance(ev, ReplyText):
            w(ev.delta.text)
        elif isinstance(ev, BargeIn):
            w(" [interrupted]")
        elif isinstance(ev, ReplyEnded):
            if ev.interrupted or ev.heard_text != ev.text.strip():
                w(f"\n  (heard: {ev.heard_text!r})")
        elif isinstance(ev, EngineError):
            w(f"\n! {ev.message}")
        self._out.flush()


def run(args: argparse.Namespace) -> int:
    from app.assembly import build
    from core.engine.mic_recorder import MicStreamRecorder
    from core.engine.recorder import SessionRecorder

    companion = build(build_config(args))
    if companion.playback.first_audio_s is not None:
        print(f"vocoder schedule (measured here): chunks {companion.playback.schedule.chunk_units}, jitter buffer "
              f"{companion.playback.prebuffer_ms:.0f} ms")
    print(f"end of turn: {companion.end_of_turn.status}")
    printer = TranscriptPrinter()
    if getattr(args, "record_mic", False) and not args.record:
        raise UserError("--record-mic needs --record DIR (the folder the streams go to)")
    recorder = SessionRecorder(args.record, printer) if args.record else None
    mic = MicStreamRecorder(args.record, recorder.prefix) if recorder is not None and args.record_mic else None
    engine = companion.engine(sink=recorder or printer, mic_tap=mic.tap if mic is not None else None)
    try:
        engine.start()
        _supervise(engine, args.duration_s)
    finally:
        engine.stop()
        if recorder is not None:
            recorder.close()
        if mic is not None:
            mic.close()
    print()
    return 0


def _supervise(engine, duration_s: float | None) -> None:
    """Run until Ctrl-C or the duration; after a device loss, reopen the devices every RETRY_S."""
    end_t = None if duration_s is None else time.monotonic() + duration_s
    while end_t is None or time.monotonic() < end_t:
        time.sleep(RETRY_S if end_t is None else max(0.0, min(RETRY_S, end_t - time.monotonic())))
        if engine.state is EngineState.IDLE:
            try:
                engine.start()
            except DeviceError as err:
                log.info("devices still unavailable: %s", err)
