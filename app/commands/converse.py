"""`converse`: a headless voice conversation through the realtime engine, printing the live transcript.

Like the window, it runs the listeners beside the engine (`core.listeners.bridge.ListenerBridge`) and prints what
they find: the user's transcript and the emotion labels of both sides, cleaned as the window cleans them
(`app.readable`). The listeners never download here either: a hub id that is not in the hub cache is "off — not
downloaded". With --demo they are the demo's random ones, as in the window."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import threading
import time
from pathlib import Path

from app.config import CompanionConfig, ComputeConfig, ModelSource
from app.demo import DEMO_DIR
from app.flags import FlagAlias, FlagGroup, add_flags, apply_flags
from app.readable import shown_text
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
from core.listeners.events import ASR, ASSISTANT_EMOTION, USER_EMOTION, ListenerStatus, TurnEmotion, UserTranscript
from core.turns.events import SpeechIgnored
from models.errors import DeviceError, UserError

log = logging.getLogger(__name__)

RETRY_S = 2.0  # after a device loss, try to reopen this often
LISTENER_TITLES = {ASR: "transcript", USER_EMOTION: "your emotion", ASSISTANT_EMOTION: "reply emotion"}
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
    from core.listeners.config import ListenersConfig
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
        FlagGroup("listeners", ListenersConfig, fields=("asr_checkpoint", "ser_checkpoint", "text_emotion_checkpoint"),
                  title="listeners (transcript and emotions; never downloaded here)"),
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
    p.add_argument("--no-listeners", action="store_true", help="no transcript and no emotion labels")
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
    """Prints state, turns, streaming reply text, errors and what the listeners found to stdout.

    Called from the engine's events thread and the listeners' threads. A listener line that comes while the reply's
    line is being written waits until that reply is over, so it never splits the reply's text."""

    def __init__(self, out=None) -> None:
        self._out = out or sys.stdout
        self._lock = threading.Lock()
        self._in_reply = False
        self._held: list[str] = []
        self._said: dict[str, str] = {}  # listener name -> its last printed state

    def __call__(self, ev: object) -> None:
        with self._lock:
            if isinstance(ev, UserTranscript | TurnEmotion | ListenerStatus):
                line = self._listener_line(ev)
                if line is not None:
                    self._held.append(line)
                if not self._in_reply:
                    self._release()
            else:
                self._engine_event(ev)
            self._out.flush()

    def _release(self) -> None:
        for line in self._held:
            self._out.write("\n" + line)
        self._held.clear()

    def _listener_line(self, ev: object) -> str | None:
        if isinstance(ev, UserTranscript):
            if not ev.is_final or ev.turn_id is None:
                return None
            return f"  you said: “{shown_text(ev.text)}”" if ev.text else "  you said: (no words recognised)"
        if isinstance(ev, TurnEmotion):
            if not ev.is_final or ev.turn_id is None:
                return None
            who = "your" if ev.emotion.source == "user" else "reply"
            return f"  {who} emotion: {ev.emotion.label} · {ev.emotion.confidence:.0%}"
        if isinstance(ev, ListenerStatus) and not ev.loading:
            demo = f"/{DEMO_DIR}/" in str(ev.checkpoint or "").replace("\\", "/")
            state = ("on (random demo)" if demo else "on") if ev.enabled else f"off — {ev.reason}"
            if self._said.get(ev.name) == state:
                return None
            self._said[ev.name] = state
            return f"[{LISTENER_TITLES.get(ev.name, ev.name)}: {state}]"
        return None

    def _engine_event(self, ev: object) -> None:
        w = self._out.write
        if isinstance(ev, StateChanged):
            if ev.new is EngineState.THINKING:
                self._in_reply = True
                w("\nbot: ")
            elif ev.new is not EngineState.SPEAKING:
                self._in_reply = False
                self._release()
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
                heard = shown_text(ev.heard_text)  # the window's cleaning: no control characters, no "�"
                w(f"\n  (interrupted — heard: “{heard}”)" if ev.interrupted else f"\n  (heard: “{heard}”)")
        elif isinstance(ev, EngineError):
            w(f"\n! {ev.message}")


def run(args: argparse.Namespace) -> int:
    from app.assembly import build
    from app.logs import no_library_progress_bars
    from core.engine.mic_recorder import MicStreamRecorder
    from core.engine.recorder import SessionRecorder

    no_library_progress_bars()  # the demo's writing and the listeners' loading: no bars between transcript lines
    companion = build(build_config(args))
    if companion.playback.first_audio_s is not None:
        print(f"vocoder schedule (measured here): chunks {companion.playback.schedule.chunk_units}, jitter buffer "
              f"{companion.playback.prebuffer_ms:.0f} ms")
    print(f"end of turn: {companion.end_of_turn.status}")
    printer = TranscriptPrinter()
    if getattr(args, "record_mic", False) and not args.record:
        raise UserError("--record-mic needs --record DIR (the folder the streams go to)")
    listeners = None if getattr(args, "no_listeners", False) else start_listeners(companion.config, printer)
    recorder = SessionRecorder(args.record, printer) if args.record else None
    mic = MicStreamRecorder(args.record, recorder.prefix) if recorder is not None and args.record_mic else None
    sink = recorder or printer
    if listeners is not None:
        sink = with_listeners(sink, listeners)
    engine = companion.engine(sink=sink, mic_tap=mic.tap if mic is not None else None)
    try:
        engine.start()
        _supervise(engine, args.duration_s)
    finally:
        engine.stop()
        if listeners is not None:
            listeners.close()
        if recorder is not None:
            recorder.close()
        if mic is not None:
            mic.close()
    print()
    return 0


def start_listeners(config: CompanionConfig, emit):
    """The listeners `config` names, loading on their own threads and reporting to `emit`; hub ids only from the
    hub cache (as in the window, nothing is downloaded behind the user's back)."""
    from core.listeners.manager import Listeners

    return Listeners(dataclasses.replace(config.listeners, local_files_only=True), emit)


def with_listeners(sink, listeners):
    """An engine sink that also feeds `listeners` (user turns, reply text and audio, reply ends)."""
    from core.listeners.bridge import ListenerBridge

    bridge = ListenerBridge(lambda: listeners)

    def both(ev: object) -> None:
        bridge.on_event(ev)  # only enqueues
        sink(ev)

    return both


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
