"""End-of-turn figures on espeak-ng speech (bench/turn_sets.py) through the capture-side detector in simulated
real time (core/turns/offline.py): decision delay on complete sentences, paused sentences kept as one turn, for
the VAD alone, the audio model alone, and the audio model with a transcript (oracle words + the lexical text
signal, core/turns/text_eou.py).

    python bench/bench_turns.py [--json turns.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import turn_sets  # noqa: E402
from core.engine.config import EngineConfig  # noqa: E402
from core.turns.offline import simulate_turns  # noqa: E402
from core.turns.text_eou import LexicalEndOfUtterance  # noqa: E402


def _run(clip, cfg, vad, scorer, with_text: bool, count_compute: bool = True):
    text = None
    if with_text:
        words, lexical = turn_sets.oracle_transcript(clip), LexicalEndOfUtterance()
        text = lambda at_s: lexical.prob(words(at_s))  # noqa: E731
    return simulate_turns(clip.samples, cfg, vad, scorer, text, count_compute=count_compute)


def figures(vad, scorer, config: EngineConfig | None = None, with_text: bool = False,
            complete=None, paused=None, count_compute: bool = True) -> dict:
    """One mode's figures. scorer None = the VAD's silence alone."""
    cfg = config or EngineConfig()
    if scorer is None:
        cfg = dataclasses.replace(cfg, end_of_turn=dataclasses.replace(cfg.end_of_turn, semantic=False))
    complete = complete if complete is not None else [turn_sets.complete_clip(t) for t in turn_sets.COMPLETE]
    paused = paused if paused is not None else [turn_sets.paused_clip(*p) for p in turn_sets.PAUSED]
    delays, cuts, per_call = [], 0, []
    for clip in complete:
        turns = _run(clip, cfg, vad, scorer, with_text, count_compute)
        delays.append(1000 * (turns[-1].decided_s - turns[-1].end_s))
        per_call += [1000 * t.model_s / t.model_calls for t in turns if t.model_calls]
        cuts += len(turns) - 1 + sum(len(t.early_commits_s) for t in turns)
    kept, merged = 0, 0
    per_paused = []
    for clip in paused:
        turns = _run(clip, cfg, vad, scorer, with_text, count_compute)
        one = len(turns) == 1 and not turns[0].early_commits_s
        kept += one
        merged += len(turns) == 1  # one user turn after continuations were merged (early commits included)
        per_paused.append({"turns": [t.as_dict() for t in turns], "one_turn": one})
    return {"complete_decision_ms_median": statistics.median(delays) if delays else math.nan,
            "complete_decision_ms": delays,
            "model_ms_per_call_median": statistics.median(per_call) if per_call else math.nan,
            "complete_cuts": cuts, "paused_one_turn": kept, "paused_total": len(paused),
            "paused_one_turn_after_merge": merged,
            "paused_false_cut_rate": 1 - kept / len(paused), "paused": per_paused}


def all_figures(vad, scorer) -> dict:
    complete = [turn_sets.complete_clip(t) for t in turn_sets.COMPLETE]
    paused = [turn_sets.paused_clip(*p) for p in turn_sets.PAUSED]
    out = {"vad_700ms": figures(vad, None, complete=complete, paused=paused)}
    if scorer is not None:
        out["audio_model"] = figures(vad, scorer, complete=complete, paused=paused)
        out["audio_model_and_text"] = figures(vad, scorer, with_text=True, complete=complete, paused=paused)
        # the policy alone: decisions at the frame that triggered them (model compute not waited for)
        out["audio_model_no_compute"] = figures(vad, scorer, complete=complete, paused=paused, count_compute=False)
        out["audio_model_and_text_no_compute"] = figures(vad, scorer, with_text=True, complete=complete,
                                                         paused=paused, count_compute=False)
    return out


def format_rows(res: dict) -> list[str]:
    lines = [f"{'end of turn (espeak-ng)':<24} {'complete: median decision ms':>29} {'model ms/call':>14} "
             f"{'paused kept one turn':>21}"]
    for name, f in res.items():
        lines.append(f"{name:<24} {f['complete_decision_ms_median']:>29.0f} {f['model_ms_per_call_median']:>14.0f} "
                     f"{f['paused_one_turn']:>16}/{f['paused_total']}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, default=Path("turns.json"))
    args = ap.parse_args(argv)
    if not turn_sets.have_espeak():
        print("espeak-ng is not installed", file=sys.stderr)
        return 1
    from core.turns.smart_turn import load_smart_turn
    from core.turns.vad import SileroVad

    scorer, status = load_smart_turn()
    res = all_figures(SileroVad(), scorer)
    print(f"end of turn: {status}")
    print("\n".join(format_rows(res)))
    args.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
