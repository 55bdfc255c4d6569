"""`turns`: the app's capture-side turn detection (VAD + semantic end of turn) over a WAV file, in simulated real
time; one line (or JSON object) per user turn: start, end of speech, and when it was decided. The turn stage comes
from the app's config and assembly (`app.assembly.turn_stage`), as for `converse`, the window and bench/suite.py;
the turn-taking flags are `converse`'s."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging

from app.config import CompanionConfig
from app.flags import add_flags, apply_flags
from core.options import CHOICES, HELP
from core.turns.transcript_config import TranscriptConfig
from models.errors import UserError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    from app.commands.converse import turn_flag_groups

    p = subparsers.add_parser(
        "turns",
        help="find the user turns in a recording as the live app would (VAD + end-of-turn model)",
        description="Run the capture-side turn detector over a file in simulated real time. Times are file "
        "time; decided_s includes the detector's measured compute on this machine. The file is followed by 3 s "
        "of silence (the speaker stops). Defaults: the app's (as converse).",
    )
    p.add_argument("--audio", required=True, metavar="FILE", help="a WAV/FLAC/OGG file (any rate, mono or stereo)")
    p.add_argument("--json", action="store_true", help="one JSON object per turn")
    add_flags(p, turn_flag_groups())
    partial = next(f for f in dataclasses.fields(TranscriptConfig) if f.name == "partial")
    p.add_argument("--transcript", choices=partial.metadata[CHOICES], default=None,
                   help=f"{partial.metadata[HELP]}; here no listener runs, so auto is pocketsphinx "
                        f"(default: {partial.default})")
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace) -> CompanionConfig:
    """The config `turns` runs: the app's defaults with the given turn-taking flags applied (as `converse`)."""
    from app.commands.converse import turn_flag_groups

    config = apply_flags(CompanionConfig(), args, turn_flag_groups())
    if getattr(args, "transcript", None):
        engine = dataclasses.replace(config.engine, transcript=TranscriptConfig(partial=args.transcript))
        config = dataclasses.replace(config, engine=engine)
    return config


def run(args: argparse.Namespace) -> int:
    from app.assembly import turn_stage
    from core.audio.clips import load_audio_file
    from core.turns.offline import simulate_turns
    from core.turns.vad import SileroVad

    samples = load_audio_file(args.audio)
    config = build_config(args)
    stage = turn_stage(config)
    if config.engine.end_of_turn.smart_turn_model and stage.end_of_turn.scorer is None:
        raise UserError(f"semantic end of turn {stage.end_of_turn.status}")
    text_prob, text_status = transcript_signal(samples, stage.settings, config.engine.transcript)
    turns = simulate_turns(samples, stage.settings, SileroVad(), stage.end_of_turn.scorer, text_prob)
    if not args.json:
        print(f"# end of turn: {stage.end_of_turn.status}; transcript: {text_status}; {stage.duplex} duplex; "
              f"{len(turns)} turn(s)")
    for t in turns:
        d = t.as_dict()
        if args.json:
            print(json.dumps(d))
        else:
            cuts = f", talked over early commits at {d['early_commits_s']}" if d["early_commits_s"] else ""
            print(f"turn start {d['start_s']:.2f} s, end of speech {d['end_s']:.2f} s, decided {d['decided_s']:.2f} s "
                  f"(+{d['decision_ms']} ms, {d['reason']}){cuts}")
    return 0


def transcript_signal(samples, cfg, transcript: TranscriptConfig):
    """(text_prob callable or None, status line): pocketsphinx's streaming transcript of the recording, its turns
    followed by a VAD of its own, for "auto" and "sphinx" (no transcript listener runs here)."""
    if transcript.partial == "off":
        return None, "off — --transcript off"
    if transcript.partial == "listener":
        return None, "off — no transcript listener runs here (--transcript sphinx: pocketsphinx)"
    from core.turns.partial_asr import StreamingTextSignal, load_sphinx
    from core.turns.vad import SileroVad

    rec, status = load_sphinx()
    if rec is None:
        if transcript.partial == "sphinx":
            raise UserError(f"partial transcript {status}")
        return None, status
    signal = StreamingTextSignal(samples, rec, SileroVad(), cfg.vad, cfg.end_of_turn.max_silence_ms)
    return signal, status
