"""End-of-turn candidates on the project's turn corpus (testing/turn_corpus): fit on the training split, curves
and figures on the held-out split (other voices, other sentences), per synthesizer.

    python bench/bench_turn_corpus.py fit        # fit the course classifier on TRAIN -> assets/end_of_turn/course.json
    python bench/bench_turn_corpus.py curves     # replayed curves (docs/img/turn_taking_curve.png, JSON)
    python bench/bench_turn_corpus.py verify     # the app's defaults through the real detector (simulate_turns)

Figures are measured from the TRUE end of speech (the clean signal, before noise), which is what a user waits
from; the VAD's own end of speech comes a frame or more later.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import turn_policies as tp  # noqa: E402
from bench import turn_text  # noqa: E402
from bench.turn_traces import load_traces, refresh_prosody  # noqa: E402
from core.turns.course import DEFAULT_WEIGHTS, load_weights  # noqa: E402

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
CURVE_PNG = ROOT / "docs" / "img" / "turn_taking_curve.png"
THRESHOLDS = tuple(np.round(np.arange(0.05, 0.99, 0.025), 3))
# operating points, chosen on the TRAINING split: the fastest setting that keeps at least this share of paused
# sentences whole (half-duplex: a false cut loses the rest of the sentence once the reply plays; full duplex: the
# speaker's continuation stops the reply and rejoins the turn, so a false cut costs a false start)
KEEP_HALF_DUPLEX = 0.95
KEEP_FULL_DUPLEX = 0.85


def _cells(clips):
    """(split, synth) -> clips."""
    out: dict[tuple[str, str], list] = {}
    for c in clips:
        out.setdefault((c.split, c.synth), []).append(c)
    return out


def _sweep(make, params, clips, traces, text) -> list[dict]:
    return [{"param": float(p), **tp.summary(tp.replay(make(p), clips, traces, text))} for p in params]


def pick(curve: list[dict], keep: float) -> dict:
    """The fastest point (median, then p90) keeping >= `keep` of the paused sentences."""
    ok = [p for p in curve if p["paused_kept_rate"] >= keep]
    return min(ok, key=lambda p: (p["median_ms"], p["p90_ms"])) if ok else max(curve, key=lambda p: p[
        "paused_kept_rate"])


def candidates(weights, weights_audio_only, clips, traces, corpus_dir):
    """name -> (decider factory, parameter grid, text source)."""
    from core.turns.config import EndOfTurnConfig

    sphinx = turn_text.sphinx(clips, traces, corpus_dir)
    oracle = turn_text.oracle(clips)
    before = EndOfTurnConfig(policy="mean")

    def mean_rule(commit: float):
        hold = min(0.3, commit - 0.05)
        return tp.mean_rule(dataclasses.replace(before, commit_prob=commit, hold_prob=hold))

    return {
        "VAD silence alone": (tp.vad, range(160, 1200, 32), tp.no_text),
        "Smart Turn v3.2, this call": (tp.smart_now, THRESHOLDS, tp.no_text),
        "mean rule (before)": (mean_rule, THRESHOLDS[8:], tp.no_text),
        "course, model only": (lambda t: tp.course(weights_audio_only, t), THRESHOLDS, tp.no_text),
        "course + prosody": (lambda t: tp.course(weights, t), THRESHOLDS, tp.no_text),
        "course + prosody + text (pocketsphinx)": (lambda t: tp.course(weights, t), THRESHOLDS, sphinx),
        "course + prosody + text (perfect words)": (lambda t: tp.course(weights, t), THRESHOLDS, oracle),
    }


def fit(args) -> int:
    from testing.turn_corpus import default_folder as corpus_dir
    from testing.turn_corpus import load_corpus

    clips = load_corpus()
    train = [c for c in clips if c.split == "train"]
    traces = load_traces(train, corpus_dir(), args.workers)
    refresh_prosody(traces, train)
    sphinx = turn_text.sphinx(train, traces, corpus_dir())
    w = tp.fit_course(train, traces, sphinx, f"turn corpus TRAIN split ({len(train)} clips, "
                      f"{corpus_dir().name}), text: pocketsphinx partials + lexical signal")
    out = Path(args.out) if args.out else DEFAULT_WEIGHTS
    w.save(out)
    print(f"wrote {out}")
    for name, m in (("audio", w.audio), ("audio_text", w.audio_text)):
        print(name, {f: round(c, 2) for f, c in zip(m.features, m.coef, strict=True)})
    return 0


def curves(args) -> int:
    from testing.turn_corpus import default_folder as corpus_dir
    from testing.turn_corpus import load_corpus

    clips = load_corpus()
    traces = load_traces(clips, corpus_dir(), args.workers)
    refresh_prosody(traces, clips)
    train = [c for c in clips if c.split == "train"]
    weights = load_weights(args.weights)
    ablation = tp.fit_course(train, traces, tp.no_text, "ablation: no prosody",
                             drop=tuple(n for n in weights.audio.features if n not in (
                                 "p_now", "p_mean", "p_min", "p_max", "p_first", "silence_s")))
    cands = candidates(weights, ablation, clips, traces, corpus_dir())
    res: dict = {"thresholds_chosen_on": "train", "cells": {}}
    for (split, synth), cell in sorted(_cells(clips).items()):
        for name, (make, grid, text) in cands.items():
            res["cells"].setdefault(f"{split}/{synth}", {})[name] = _sweep(make, grid, cell, traces, text)
    # operating points on the pooled TRAINING split
    res["chosen"] = {}
    for name, (make, grid, text) in cands.items():
        pooled = _sweep(make, grid, train, traces, text)
        res["chosen"][name] = {"half_duplex": pick(pooled, KEEP_HALF_DUPLEX)["param"],
                               "full_duplex": pick(pooled, KEEP_FULL_DUPLEX)["param"]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "turn_corpus_curves.json").write_text(json.dumps(res, indent=1))
    plot(res, CURVE_PNG)
    print_table(res)
    return 0


def _at(curve: list[dict], param: float) -> dict:
    return min(curve, key=lambda p: abs(p["param"] - param))


def print_table(res: dict) -> None:
    print(f"{'cell':<20} {'candidate':<42} {'param':>6} {'median':>7} {'p90':>6} {'kept':>9}")
    for cell, cands in res["cells"].items():
        for name, curve in cands.items():
            p = _at(curve, res["chosen"][name]["half_duplex"])
            print(f"{cell:<20} {name:<42} {p['param']:>6.3g} {p['median_ms']:>7.0f} {p['p90_ms']:>6.0f} "
                  f"{p['paused_kept']:>4}/{p['paused']:<4}")


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heldout = {k: v for k, v in res["cells"].items() if k.startswith("heldout/")}
    fig, axes = plt.subplots(1, len(heldout), figsize=(6.5 * len(heldout), 5.2), squeeze=False)
    for ax, (cell, cands) in zip(axes[0], heldout.items(), strict=True):
        for name, curve in cands.items():
            xs = [p["median_ms"] for p in curve]
            ys = [100 * p["paused_kept_rate"] for p in curve]
            (line,) = ax.plot(xs, ys, marker=".", lw=1.2, ms=3, label=name)
            for mode, marker in (("half_duplex", "o"), ("full_duplex", "s")):
                p = _at(curve, res["chosen"][name][mode])
                ax.plot([p["median_ms"]], [100 * p["paused_kept_rate"]], marker, color=line.get_color(), ms=7,
                        mfc="none" if mode == "full_duplex" else line.get_color())
        ax.axvline(300, color="grey", ls="--", lw=0.8)
        ax.axhline(87.5, color="grey", ls="--", lw=0.8)
        ax.set_xlim(0, 1300)
        ax.set_ylim(0, 101)
        ax.set_xlabel("complete sentences: median decision after the end of speech (ms)")
        ax.set_ylabel("paused sentences kept as one turn (%)")
        ax.set_title(f"held-out split, {cell.split('/')[1]}")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.suptitle("End of turn: speed vs paused sentences kept (operating points chosen on the training split: "
                 "filled = half-duplex, open = full duplex)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def _verify_rows(item: tuple[list, bool, bool]) -> dict:
    """Worker: the app's defaults (or the settings before issue 32) over these clips through simulate_turns."""
    clips, full_duplex, before = item
    from app.assembly import turn_stage
    from app.commands.turns import transcript_signal
    from app.config import CompanionConfig
    from core.turns.offline import simulate_turns
    from core.turns.vad import SileroVad

    app = CompanionConfig()
    if full_duplex:
        app = dataclasses.replace(app, engine=dataclasses.replace(app.engine, duplex="headphones"))
    if before:
        from bench.turn_baselines import BEFORE_ISSUE_32, BEFORE_ISSUE_32_VAD
        from core.turns.transcript_config import TranscriptConfig

        engine = dataclasses.replace(app.engine, vad=BEFORE_ISSUE_32_VAD, end_of_turn=BEFORE_ISSUE_32,
                                     transcript=TranscriptConfig(partial="off"))  # `turns` had no text signal
        app = dataclasses.replace(app, engine=engine)
    stage = turn_stage(app)
    vad = SileroVad()
    rows = {}
    for c in clips:
        samples = c.samples()
        text_prob, _ = transcript_signal(samples, stage.settings, app.engine.transcript)
        turns = simulate_turns(samples, stage.settings, vad, stage.end_of_turn.scorer, text_prob)
        voiced = [t for t in turns if t.start_s < c.speech_end_s]
        last = voiced[-1] if voiced else None
        rows[c.id] = {"split": c.split, "synth": c.synth, "kind": c.kind, "sentence_kind": c.sentence_kind,
                      "noise": c.noise is not None,
                      "turns": len(voiced), "early_commits": sum(len(t.early_commits_s) for t in voiced),
                      "decision_ms": None if last is None else 1000 * (last.decided_s - c.speech_end_s),
                      "vad_decision_ms": None if last is None else 1000 * (last.decided_s - last.end_s),
                      "model_calls": sum(t.model_calls for t in voiced),
                      "model_ms": sum(1000 * t.model_s for t in voiced)}
    return rows


def verify(args) -> int:
    """The app's defaults (CompanionConfig through app.assembly, as `main.py turns`) over the clips, through
    simulate_turns (the live detector, compute counted), per split x synthesizer."""
    from testing.turn_corpus import load_corpus

    clips = [c for c in load_corpus() if args.split in ("all", c.split)]
    t0 = time.perf_counter()
    parts = [clips[i::args.workers] for i in range(args.workers)]
    rows: dict = {}
    with ProcessPoolExecutor(args.workers) as pool:
        for part in pool.map(_verify_rows, [(p, args.full_duplex, args.before) for p in parts]):
            rows.update(part)
    mode = "full duplex" if args.full_duplex else "half-duplex"
    out = {"config": f"{mode}, {'before issue 32 (bench/turn_baselines.py)' if args.before else 'app defaults'}",
           "wall_s": time.perf_counter() - t0, "workers": args.workers, "clips": rows, "cells": verify_cells(rows)}
    name = ("turn_corpus_verify" + ("_full_duplex" if args.full_duplex else "") + ("_before" if args.before else "")
            + ".json")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / name).write_text(json.dumps(out, indent=1))
    for cell, f in out["cells"].items():
        print(f"{cell:<22} median {f['median_ms']:.0f} ms, p90 {f['p90_ms']:.0f} ms (from the VAD's end: "
              f"{f['vad_median_ms']:.0f}/{f['vad_p90_ms']:.0f}), paused kept {f['paused_kept']}/{f['paused']} "
              f"({100 * f['paused_kept_rate']:.1f} %, one turn after merging {f['paused_one_turn_after_merge']}), "
              f"complete cut {f['complete_cut']}/{f['complete']}, model {f['model_ms_per_call']:.0f} ms/call")
    return 0


def verify_cells(rows: dict) -> dict:
    cells: dict[str, list] = {}
    for r in rows.values():
        cells.setdefault(f"{r['split']}/{r['synth']}", []).append(r)
    out = {}
    for cell, rs in sorted(cells.items()):
        comp = [r for r in rs if r["kind"] == "complete"]
        d = [r["decision_ms"] for r in comp if r["decision_ms"] is not None]
        v = [r["vad_decision_ms"] for r in comp if r["vad_decision_ms"] is not None]
        paused = [r for r in rs if r["kind"] == "paused"]
        kept = sum(r["turns"] == 1 and r["early_commits"] == 0 for r in paused)
        calls = sum(r["model_calls"] for r in rs)
        out[cell] = {"complete": len(comp), "median_ms": statistics.median(d), "p90_ms": float(np.percentile(d, 90)),
                     "vad_median_ms": statistics.median(v), "vad_p90_ms": float(np.percentile(v, 90)),
                     "complete_cut": sum(r["turns"] != 1 or r["early_commits"] > 0 for r in comp),
                     "paused": len(paused), "paused_kept": kept, "paused_kept_rate": kept / len(paused),
                     "paused_one_turn_after_merge": sum(r["turns"] == 1 for r in paused),
                     "model_ms_per_call": sum(r["model_ms"] for r in rs) / max(calls, 1)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("fit", "curves", "verify"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", help="fit: where to write the weights (default: the shipped asset)")
    ap.add_argument("--weights", help="curves: the weights to evaluate (default: the shipped asset)")
    ap.add_argument("--full-duplex", action="store_true", help="verify: the full-duplex operating point")
    ap.add_argument("--before", action="store_true", help="verify: the settings before issue 32")
    ap.add_argument("--split", default="all", choices=("train", "heldout", "all"), help="verify: which clips")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return {"fit": fit, "curves": curves, "verify": verify}[args.what](args)


if __name__ == "__main__":
    sys.exit(main())
