"""`turns`: the app's capture-side turn detection (VAD + semantic end of turn, default settings) over a WAV file,
in simulated real time; one line (or JSON object) per user turn: start, end of speech, and when it was decided."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging

from core.options import CHOICES, HELP
from core.turns.transcript_config import TranscriptConfig
from models.errors import UserError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "turns",
        help="find the user turns in a recording as the live app would (VAD + end-of-turn model)",
        description="Run the capture-side turn detector over a file in simulated real time. Times are file "
        "time; decided_s includes the detector's measured compute on this machine. The file is followed by 3 s "
        "of silence (the speaker stops).",
    )
    p.add_argument("--audio", required=True, metavar="FILE", help="a WAV/FLAC/OGG file (any rate, mono or stereo)")
    p.add_argument("--json", action="store_true", help="one JSON object per turn")
    p.add_argument("--no-semantic", action="store_true", help="the VAD's silence alone (end_silence_ms)")
    p.add_argument("--smart-turn-model", metavar="ONNX", help="Smart Turn v3 file (default: the pipecat-ai one)")
    partial = next(f for f in dataclasses.fields(TranscriptConfig) if f.name == "partial")
    p.add_argument("--transcript", choices=partial.metadata[CHOICES], default=partial.default,
                   help=f"{partial.metadata[HELP]}; here no listener runs, so auto is pocketsphinx "
                        f"(default: %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.audio.clips import load_audio_file
    from core.engine.config import EngineConfig
    from core.turns.offline import simulate_turns
    from core.turns.smart_turn import load_smart_turn
    from core.turns.vad import SileroVad

    samples = load_audio_file(args.audio)
    cfg = EngineConfig()
    if args.no_semantic:
        cfg = dataclasses.replace(cfg, end_of_turn=dataclasses.replace(cfg.end_of_turn, semantic=False))
    scorer, status = (None, "off — --no-semantic") if args.no_semantic else load_smart_turn(args.smart_turn_model)
    if args.smart_turn_model and scorer is None:
        raise UserError(f"semantic end of turn {status}")
    text_prob, text_status = transcript_signal(samples, cfg, TranscriptConfig(partial=args.transcript))
    turns = simulate_turns(samples, cfg, SileroVad(), scorer, text_prob)
    if not args.json:
        print(f"# end of turn: {status}; transcript: {text_status}; {len(turns)} turn(s)")
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
    from core.turns.partial_asr import StreamingTextSignal, load_sphinx
    from core.turns.vad import SileroVad

    rec, status = load_sphinx()
    if rec is None:
        if transcript.partial == "sphinx":
            raise UserError(f"partial transcript {status}")
        return None, status
    signal = StreamingTextSignal(samples, rec, SileroVad(), cfg.vad, cfg.end_of_turn.max_silence_ms)
    return signal, status
