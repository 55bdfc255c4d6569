"""`converse`: a headless voice conversation through the realtime engine, printing the live transcript."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time
from pathlib import Path

from core.engine.config import AudioConfig, EngineConfig
from core.engine.events import BargeIn, EngineError, EngineState, ReplyEnded, ReplyText, StateChanged, UserTurnCaptured
from core.turns.config import EndOfTurnConfig, VadConfig
from core.turns.events import SpeechIgnored
from models.errors import DeviceError, UserError
from models.weights import WEIGHT_KINDS

log = logging.getLogger(__name__)

RETRY_S = 2.0  # after a device loss, try to reopen this often


def _device(value: str | None) -> int | str | None:
    return int(value) if value is not None and value.isdigit() else value


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("converse", help="talk to the model through the microphone and speaker")
    p.add_argument("--checkpoint", type=Path, help="OpenS2S checkpoint directory (or --demo)")
    p.add_argument("--decoder", type=Path, help="GLM-4-Voice decoder directory (or --demo)")
    p.add_argument("--demo", action="store_true",
                   help="use the offline demo checkpoint (random weights: gibberish), made on first use")
    p.add_argument("--vocoder-backend", choices=("torch", "onnx"), default="torch")
    p.add_argument("--vocoder-schedule", choices=("auto", "fast", "smooth"), default="auto",
                   help="auto (default): 8-unit first chunk, later chunks and jitter buffer planned from this "
                   "machine's measured vocoder and LM speed; fast: fixed 8, 5, 5, 10... units; smooth: 16 units, "
                   "full overlaps")
    p.add_argument("--input-device", help="input device name or index (see `devices`)")
    p.add_argument("--output-device", help="output device name or index (see `devices`)")
    p.add_argument("--input-rate", type=int, help="force a capture rate in Hz (default: the device's)")
    p.add_argument("--output-rate", type=int, help="force a playback rate in Hz (default: the device's)")
    p.add_argument("--barge-in", action="store_true", help="let speech interrupt replies (use headphones)")
    p.add_argument("--barge-in-ms", type=float, default=200.0, help="speech that interrupts (default 200)")
    p.add_argument("--end-silence-ms", type=float, default=700.0, help="silence that ends a turn (default 700)")
    p.add_argument("--speculate-after-ms", type=float, default=250.0,
                   help="start computing the reply after this pause, play it if the turn ends (0 = off; default 250)")
    p.add_argument("--max-turn-s", type=float, default=30.0, help="longest user turn (default 30)")
    eot = EndOfTurnConfig()
    p.add_argument("--no-semantic", action="store_true",
                   help="end turns by --end-silence-ms alone (default: Smart Turn judges the pause)")
    p.add_argument("--smart-turn-model", metavar="ONNX", help="Smart Turn v3 file (default: the pipecat-ai one)")
    p.add_argument("--eot-commit-prob", type=float, default=eot.commit_prob,
                   help=f"P(finished) that ends the turn after the shortest pause (default {eot.commit_prob})")
    p.add_argument("--eot-hold-prob", type=float, default=eot.hold_prob,
                   help=f"P(finished) at or below which the longest pause is waited for (default {eot.hold_prob})")
    p.add_argument("--eot-first-check-ms", type=float, default=eot.first_check_ms,
                   help=f"shortest pause, first model call (default {eot.first_check_ms:g})")
    p.add_argument("--eot-max-silence-ms", type=float, default=eot.max_silence_ms,
                   help=f"longest pause inside a turn (default {eot.max_silence_ms:g})")
    p.add_argument("--eot-rejoin-ms", type=float, default=eot.rejoin_ms,
                   help=f"speech this soon after an early commit continues that turn (default {eot.rejoin_ms:g})")
    p.add_argument("--record", type=Path, help="keep every turn's audio and a JSONL log in this directory")
    p.add_argument("--device", help="compute device: cpu, cuda, cuda:N (default: cuda if available)")
    p.add_argument("--weights", choices=WEIGHT_KINDS, default="full",
                   help="LM weight storage: full, int8 (about half the memory of bf16), int4 (CUDA only)")
    p.add_argument("--seed", type=int, help="sampling seed (default: random)")
    p.add_argument("--max-text-tokens", type=int, help="text budget per reply (default: the checkpoint's)")
    p.add_argument("--max-units", type=int, help="speech-unit budget per reply (default: the checkpoint's)")
    p.add_argument("--warm-up", action="store_true", help="run one tiny reply at load so the first turn is not slower")
    p.add_argument("--duration-s", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace) -> EngineConfig:
    try:
        return EngineConfig(
            vad=VadConfig(
                end_silence_ms=args.end_silence_ms,
                max_turn_ms=1000.0 * args.max_turn_s,
                speculate_after_ms=args.speculate_after_ms or None,
            ),
            end_of_turn=EndOfTurnConfig(
                semantic=not args.no_semantic,
                model_path=args.smart_turn_model,
                commit_prob=args.eot_commit_prob,
                hold_prob=args.eot_hold_prob,
                first_check_ms=args.eot_first_check_ms,
                max_silence_ms=args.eot_max_silence_ms,
                rejoin_ms=args.eot_rejoin_ms,
            ),
            audio=AudioConfig(
                input_device=_device(args.input_device),
                output_device=_device(args.output_device),
                input_rate_hz=args.input_rate,
                output_rate_hz=args.output_rate,
            ),
            barge_in=args.barge_in,
            barge_in_ms=args.barge_in_ms,
        )
    except ValueError as err:
        raise UserError(f"Invalid option: {err}.") from None


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
            w("\n! (heard speech while talking; the microphone is muted while the app speaks: if that was you, "
              "say it again — or use headphones with --barge-in)")
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


def load_models(args: argparse.Namespace):
    """(runner, vocoder, playback plan) from the command line; both loaders raise CheckpointError for a bad
    directory."""
    from core.lm.runner import OpenS2SRunner
    from core.voice.schedule_plan import PlaybackPlan

    runner = OpenS2SRunner.load(args.checkpoint, device=args.device, weights=getattr(args, "weights", None))
    try:
        vocoder_mod = importlib.import_module("core.voice.vocoder")  # the vocoder (docs/contracts.md)
    except ModuleNotFoundError as err:
        raise UserError("This build has no speech decoder (core.voice.vocoder); update the app.") from err
    vocoder = vocoder_mod.Vocoder.load(args.decoder, backend=args.vocoder_backend, device=args.device)
    seed = args.seed or 0
    if args.vocoder_schedule == "auto":
        from app.playback_plan import auto_plan

        plan = auto_plan(runner, vocoder, seed)
        print(f"vocoder schedule (measured here): chunks {plan.schedule.chunk_units}, jitter buffer "
              f"{plan.prebuffer_ms:.0f} ms")
        return runner, vocoder, plan
    return runner, vocoder, PlaybackPlan.preset(args.vocoder_schedule, seed)


def build_sampling(args: argparse.Namespace):
    from core.lm.sampling import SamplingConfig

    try:
        return SamplingConfig(seed=args.seed, max_text_tokens=args.max_text_tokens, max_units=args.max_units)
    except ValueError as err:
        raise UserError(f"Invalid sampling option: {err}.") from None


def resolve_demo(args: argparse.Namespace) -> argparse.Namespace:
    """--demo fills --checkpoint/--decoder with the demo's folders (written on first use); without it both are
    required."""
    if args.demo:
        from app.demo import DEMO_MAX_TEXT_TOKENS, DEMO_MAX_UNITS, ensure_demo
        from app.settings import data_dir

        model, decoder = ensure_demo(data_dir())
        args.checkpoint, args.decoder = model, decoder
        args.max_units = args.max_units or DEMO_MAX_UNITS
        args.max_text_tokens = args.max_text_tokens or DEMO_MAX_TEXT_TOKENS
        print("demo checkpoint: random weights, it speaks gibberish", file=sys.stderr, flush=True)
    elif args.checkpoint is None or args.decoder is None:
        raise UserError("converse needs --checkpoint DIR and --decoder DIR, or --demo")
    return args


def run(args: argparse.Namespace) -> int:
    from core.engine.engine import Engine
    from core.engine.recorder import SessionRecorder

    args = resolve_demo(args)
    config = build_config(args)
    sampling = build_sampling(args)
    runner, vocoder, playback = load_models(args)
    if getattr(args, "warm_up", False):
        from core.engine.warmup import warm_up

        warm_up(runner, vocoder)
    printer = TranscriptPrinter()
    recorder = SessionRecorder(args.record, printer) if args.record else None
    sink = recorder or printer
    scorer = None
    if config.end_of_turn.semantic:
        from core.turns.smart_turn import load_smart_turn

        scorer, status = load_smart_turn(config.end_of_turn.model_path)
        print(f"end of turn: {status}")
    else:
        print(f"end of turn: off — --no-semantic; {config.vad.end_silence_ms:g} ms of silence ends a turn")
    engine = Engine(runner, vocoder, playback=playback, config=config, sink=sink, sampling=sampling,
                    end_of_turn=scorer)
    try:
        engine.start()
        _supervise(engine, args.duration_s)
    finally:
        engine.stop()
        if recorder is not None:
            recorder.close()
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
