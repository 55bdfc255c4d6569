"""Full duplex on loudspeakers, measured on the room rig (testing/duplex_trial.py): the real engine and capture path,
replies in real synthetic speech coming back into the microphone through a synthetic laptop room.

    python bench/bench_duplex.py [--split train|heldout] [--trials 20] [--sections erle,self,barge,backchannel]
                                 [--no-baseline] [--json bench/results/duplex_heldout.json]

Sections (each `--trials` trials, one engine per trial, real time):
    erle         a reply with no user speech, echo at 0 dB and at +6 dB re the user's speech level (no background
                 noise: it would floor the residual, as ITU-T G.168 measures echo alone): ERLE after 1 s, and its
                 curve per 0.5 s
    self         a reply with no user speech in a random room: replies stopped or paused by their own echo
    barge        the user starts a sentence over the reply: onset -> reply silent; the captured turn vs the clean speech
    backchannel  "mm-hm" / "uh-huh" / "yeah" / "okay" over the reply: does it play on
    latency      a sentence with nothing playing: end of speech -> first reply sample, with the canceller and
                 (the baseline) without it; the difference is what the canceller adds
Rooms are drawn over delay 20-250 ms, RT60 0.2-0.6 s, echo -6..+6 dB (testing.room.draw_room); voices, sentences
and rooms come from the split. The thresholds (EngineConfig barge_in_ms, backchannel_ms, backchannel_gap_ms) were
chosen on --split train; the README and docs/duplex.md report --split heldout. The baseline is the same trials
with barge-in as it was before this issue (no echo cancellation, the reply stopped after 200 ms of speech).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.engine.config import EngineConfig  # noqa: E402
from testing.duplex_trial import TrialResult, run_trial  # noqa: E402
from testing.room import draw_room  # noqa: E402

log = logging.getLogger("bench_duplex")

SECTIONS = ("erle", "self", "barge", "backchannel", "latency")
ERLE_GAINS_DB = (0.0, 6.0)
WORDS = ("mm-hm", "uh-huh", "yeah", "okay")
BARGE_TARGET_MS = 300.0
ERLE_TARGET_DB = 35.0
# before this issue: barge-in (then "use headphones") stopped the reply after 200 ms of speech; no echo cancellation
TUNABLE = ("barge_in_ms", "over_reply_threshold", "backchannel_ms", "backchannel_gap_ms")
BASELINE = EngineConfig(duplex="headphones", interruption="immediate", barge_in_ms=200.0)


def _trials(section: str, split: str, n: int, cfg: EngineConfig, seed0: int) -> list[TrialResult]:
    rng = np.random.default_rng(seed0)
    out = []
    for i in range(n):
        room = draw_room(rng, split)
        user_at_s = float(rng.uniform(1.0, 2.5))
        seed = seed0 * 1000 + i
        if section == "erle":
            for gain in ERLE_GAINS_DB:
                out.append(run_trial("reply", dataclasses.replace(room, echo_gain_db=gain, noise_db=None),
                                     split=split, seed=seed, config=cfg))
                _note(section, out[-1])
            continue
        kind = {"self": "reply", "barge": "sentence", "backchannel": "backchannel", "latency": "turn"}[section]
        out.append(run_trial(kind, room, split=split, seed=seed, config=cfg, user_at_s=user_at_s,
                             word=WORDS[i % len(WORDS)]))
        _note(section, out[-1])
    return out


def _note(section: str, r: TrialResult) -> None:
    fig = {"erle": f"ERLE {r.erle_db}", "self": f"paused {r.paused} stopped {r.barge_ins} turns {r.turns}",
           "barge": f"stop {r.stop_ms} ms corr {r.capture_corr}",
           "backchannel": f"paused {r.paused} resumed {r.resumed} stopped {r.barge_ins}",
           "latency": f"end of speech -> first sample {r.latency_ms} ms"}[section]
    log.info("%s %s seed %d gain %+.1f dB delay %.0f ms rt60 %.2f s: %s%s", section, r.duplex, r.seed,
             r.room.get("echo_gain_db", 0), r.room.get("delay_ms", 0), r.room.get("rt60_s", 0), fig,
             f" ERROR {r.error}" if r.error else "")


def _med(xs: list[float]) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(section: str, rs: list[TrialResult]) -> dict:
    n = len(rs)
    errors = sum(r.error is not None for r in rs)
    if section == "erle":
        out = {}
        for gain in ERLE_GAINS_DB:
            g = [r for r in rs if r.room.get("echo_gain_db") == gain]
            erle = [r.erle_db for r in g if r.erle_db is not None]
            curves = [r.erle_curve_db for r in g if r.erle_curve_db]
            width = min((len(c) for c in curves), default=0)
            out[f"{gain:+.0f}dB"] = {
                "trials": len(g), "median_db": _med(erle), "min_db": min(erle) if erle else None,
                "at_least_35db": sum(e >= ERLE_TARGET_DB for e in erle),
                "curve_median_db_per_0.5s": [_med([c[k] for c in curves]) for k in range(width)],
                "self_interruptions": sum(r.barge_ins > 0 or r.turns > 0 for r in g),
            }
        return out
    if section == "self":
        return {"trials": n, "replies_stopped_by_own_echo": sum(r.barge_ins > 0 or r.interrupted for r in rs),
                "echo_turns": sum(r.turns for r in rs), "replies_paused": sum(r.paused > 0 for r in rs),
                "pauses": sum(r.paused for r in rs), "errors": errors}
    if section == "barge":
        stops = [r.stop_ms for r in rs if r.stop_ms is not None]
        return {"trials": n, "stopped_within_300ms": sum(s <= BARGE_TARGET_MS for s in stops),
                "stop_ms_median": _med(stops), "stop_ms_max": max(stops) if stops else None,
                "stop_ms_p90": float(np.percentile(stops, 90)) if stops else None,
                "turn_captured": sum(r.turns > 0 for r in rs),
                "capture_corr_median": _med([r.capture_corr for r in rs]),
                "capture_corr_min": min((r.capture_corr for r in rs if r.capture_corr is not None), default=None),
                "capture_snr_db_median": _med([r.capture_snr_db for r in rs]),
                "capture_corr_band_median": _med([r.capture_corr_band for r in rs]),
                "capture_onset_corr_median": _med([r.capture_onset_corr for r in rs]),
                "capture_onset_level_db_median": _med([r.capture_onset_level_db for r in rs]),
                "clipped_ms_max": max((r.clipped_ms for r in rs if r.clipped_ms is not None), default=None),
                "errors": errors}
    if section == "latency":
        lat = [r.latency_ms for r in rs if r.latency_ms is not None and np.isfinite(r.latency_ms)]
        return {"trials": n, "latency_ms_median": _med(lat), "latency_ms_p90": float(np.percentile(lat, 90))
                if lat else None, "errors": errors}
    return {"trials": n, "played_on": sum(not r.interrupted and r.barge_ins == 0 and r.turns == 0 for r in rs),
            "paused": sum(r.paused > 0 for r in rs), "resumed": sum(r.resumed > 0 for r in rs),
            "became_a_turn": sum(r.turns > 0 for r in rs), "errors": errors}


def _f(x, fmt="{:.0f}") -> str:
    return "—" if x is None else fmt.format(x)


def table(result: dict) -> list[str]:
    """The figures as markdown rows (must-show item | measured | before this issue | target)."""
    sec, base = result["sections"], result["baseline"]
    rows = ["| on the rig (" + result["split"] + f" split, {result['trials']} trials each) | with echo cancellation "
            "| before (no cancellation, barge-in stops at 200 ms) | target |", "|---|---|---|---|"]
    if "erle" in sec:
        for gain in ("+0dB", "+6dB"):
            e = sec["erle"][gain]
            rows.append(f"| ERLE after 1 s, echo {gain[:-2]} dB re speech: median (min), trials >= 35 dB | "
                        f"{_f(e['median_db'], '{:.1f}')} dB ({_f(e['min_db'], '{:.1f}')}), {e['at_least_35db']}/"
                        f"{e['trials']} | 0 dB (nothing removed) | >= 35 dB |")
    if "self" in sec:
        s, b = sec["self"], base.get("self", {})
        rows.append(f"| replies stopped by their own echo (no user speech) | {s['replies_stopped_by_own_echo']}/"
                    f"{s['trials']} (paused: {s['replies_paused']}) | {b.get('replies_stopped_by_own_echo', '—')}/"
                    f"{b.get('trials', '—')} | 0 |")
    if "barge" in sec:
        s, b = sec["barge"], base.get("barge", {})
        rows.append(f"| barge-in: reply silent within 300 ms of speech onset | "
                    f"{s['stopped_within_300ms']}/{s['trials']} (median {_f(s['stop_ms_median'])} ms, "
                    f"p90 {_f(s['stop_ms_p90'])}) | "
                    f"{b.get('stopped_within_300ms', '—')}/{b.get('trials', '—')} | >= 19/20 |")
        rows.append(f"| double talk: the sentence became the next turn; clipped at its start (max) | "
                    f"{s['turn_captured']}/{s['trials']}; {_f(s['clipped_ms_max'])} ms | "
                    f"{b.get('turn_captured', '—')}/{b.get('trials', '—')} | whole |")
        rows.append(f"| double talk: captured turn vs clean speech, correlation (median; min) / SNR | "
                    f"{_f(s['capture_corr_median'], '{:.2f}')}; {_f(s['capture_corr_min'], '{:.2f}')} / "
                    f"{_f(s['capture_snr_db_median'], '{:.1f}')} dB | {_f(b.get('capture_corr_median'), '{:.2f}')} | |")
        rows.append(f"| ... its first 0.5 s (over the reply): correlation, level re clean | "
                    f"{_f(s['capture_onset_corr_median'], '{:.2f}')}, "
                    f"{_f(s['capture_onset_level_db_median'], '{:+.1f}')} dB | "
                    f"{_f(b.get('capture_onset_corr_median'), '{:.2f}')} | |")
    if "backchannel" in sec:
        s, b = sec["backchannel"], base.get("backchannel", {})
        rows.append(f"| backchannel: the reply played on | {s['played_on']}/{s['trials']} (paused {s['paused']}, "
                    f"resumed {s['resumed']}) | {b.get('played_on', '—')}/{b.get('trials', '—')} | >= 18/20 |")
    costs = [v.get("aec_ms_per_10ms_frame_median") for v in sec.values() if isinstance(v, dict)]
    costs = [c for c in costs if c is not None]
    if costs:
        rows.append(f"| canceller CPU per 10 ms frame (median of sections) | {_f(_med(costs), '{:.2f}')} ms | — | |")
    if "latency" in sec:
        s, b = sec["latency"], base.get("latency", {})
        rows.append(f"| end of speech -> first reply sample (median) | {_f(s['latency_ms_median'])} ms | "
                    f"{_f(b.get('latency_ms_median'))} ms (no canceller) | |")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=("train", "heldout"), default="heldout")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--no-baseline", action="store_true", help="skip the runs without echo cancellation")
    ap.add_argument("--json", type=Path)
    for name in TUNABLE:
        ap.add_argument("--" + name.replace("_", "-"), type=float,
                        help=f"override EngineConfig.{name} (choosing it: --split train only)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for name in ("core", "testing"):
        logging.getLogger(name).setLevel(logging.WARNING)
    sections = [s for s in args.sections.split(",") if s]
    bad = [s for s in sections if s not in SECTIONS]
    if bad:
        ap.error(f"unknown sections {bad}; choose from {SECTIONS}")
    seeds = {"erle": 1, "self": 2, "barge": 3, "backchannel": 4, "latency": 5}
    overrides = {k: getattr(args, k) for k in TUNABLE if getattr(args, k) is not None}
    speakers = EngineConfig(duplex="speakers", **overrides)
    t0 = time.time()
    result: dict = {"split": args.split, "trials": args.trials, "machine": platform.processor() or platform.machine(),
                    "when": time.strftime("%Y-%m-%d %H:%M"), "config": dataclasses.asdict(speakers),
                    "sections": {}, "baseline": {}, "runs": {}}
    for s in sections:
        rs = _trials(s, args.split, args.trials, speakers, seeds[s])
        result["sections"][s] = summarize(s, rs)
        result["runs"][s] = [r.as_dict() for r in rs]
        aec = [r.aec_ms_per_frame for r in rs if r.aec_ms_per_frame is not None]
        result["sections"][s]["aec_ms_per_10ms_frame_median"] = _med(aec)
        if s != "erle" and not args.no_baseline:
            base = _trials(s, args.split, args.trials, BASELINE, seeds[s])
            result["baseline"][s] = summarize(s, base)
            result["runs"][s + "_baseline"] = [r.as_dict() for r in base]
        print(json.dumps({s: result["sections"][s], "baseline": result["baseline"].get(s)}, indent=1), flush=True)
    result["wall_s"] = round(time.time() - t0)
    print("\n".join(table(result)))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
