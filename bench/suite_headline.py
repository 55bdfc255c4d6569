"""The suite's headline: end of speech -> first reply sample on the complete espeak-ng sentences
(bench/turn_sets.py) spoken into the fake microphone, for two operating points of the turn stage in one run:
"before" (bench/turn_baselines.py: the settings shipped before issue 32) and "after" (the app's defaults, through
app.assembly.turn_stage). Same loaded LM and vocoder, same playback plan (the "auto" schedule planned once on this
machine), same sentences, same duplex mode (the app's default); the two alternate in blocks (before, after,
after, before over the two halves of the turns) so drift on a shared machine falls on both.

Per point: end of speech -> first sample, its two parts (the end-of-turn decision: end of speech -> dispatch; the
rest: dispatch -> first sample), the speculative replies dropped, and the audio model's cuts on the paused
sentences (bench/bench_turns.py figures, same config and scorer).
"""

from __future__ import annotations

import dataclasses
import math
import statistics

POINTS = ("before", "after")
# (key, label) of the figures compared before -> after, medians over the turns
FIGURES = (
    ("speech_end_to_first_sample_ms", "end of speech -> first reply sample ms"),
    ("decision_ms", "  end-of-turn decision (end of speech -> dispatch) ms"),
    ("after_decision_ms", "  the rest (dispatch -> first sample) ms"),
)


def blocks(turns: int) -> list[tuple[str, list[int]]]:
    """(point, turn indices) in run order: before, after, after, before over the two halves of `turns`; empty
    blocks dropped (one turn: after, then before)."""
    first, second = list(range(turns // 2)), list(range(turns // 2, turns))
    order = (("before", first), ("after", first), ("after", second), ("before", second))
    return [(point, idx) for point, idx in order if idx]


def with_speculate_at(config, speculate_at_ms: float):
    """`config` (a CompanionConfig) with the speculative start moved (the suite's --speculate-at-ms experiment)."""
    eot = dataclasses.replace(config.engine.end_of_turn, speculate_at_ms=speculate_at_ms)
    return dataclasses.replace(config, engine=dataclasses.replace(config.engine, end_of_turn=eot))


def headline(ours, decoder, sampling, turns: int, false_cuts: bool = True,
             speculate_at_ms: float | None = None) -> dict:
    """The "after" point's figures at the top level (the app's defaults: what the suite's first row shows), the
    "before" point's under "before", and before/after ratios under "before_over_after".
    speculate_at_ms: moves the speculative start of "after" only (an experiment on the defaults)."""
    from app.assembly import playback_plan, turn_stage
    from bench import turn_sets
    from bench.suite_engine import engine_vad_turns, espeak_speech_16k
    from bench.turn_baselines import operating_points

    points = operating_points()
    if speculate_at_ms is not None:
        points["after"] = with_speculate_at(points["after"], speculate_at_ms)
    stages = {name: turn_stage(config) for name, config in points.items()}  # the app's assembly, both points
    sentences = [espeak_speech_16k(t) for t in turn_sets.COMPLETE]
    plan = playback_plan(points["after"], ours, decoder)  # the default vocoder schedule ("auto"), planned here
    rows: dict[str, list[dict]] = {name: [] for name in POINTS}
    for name, idx in blocks(turns):
        stage = stages[name]
        clips = [sentences[i % len(sentences)] for i in idx]
        rows[name] += engine_vad_turns(ours, decoder, clips, sampling, len(clips), stage.settings,
                                       stage.end_of_turn.scorer, plan)
    figs = {name: summary(rows[name], stages[name], false_cuts) for name in POINTS}
    out = dict(figs["after"])
    out["before"] = figs["before"]
    out["before_over_after"] = {key: _ratio(figs["before"][key], figs["after"][key]) for key, _ in FIGURES}
    out["before_over_after_paired"] = {  # the median over sentences of each sentence's before/after
        key: statistics.median(_ratio(b[_s(key)], a[_s(key)]) for b, a in zip(rows["before"], rows["after"],
                                                                                strict=True))
        for key, _ in FIGURES}
    out["schedule"], out["prebuffer_ms"] = list(plan.schedule.chunk_units), plan.prebuffer_ms
    out["duplex"] = stages["after"].duplex
    out["order"] = [name for name, _ in blocks(turns)]
    return out


def summary(rows: list[dict], stage, false_cuts: bool = True) -> dict:
    """One point's medians (ms), its speculation cost, its config and, with the audio model, its paused cuts."""
    from bench.bench_turns import figures
    from core.turns.vad import SileroVad

    keys = [k for k in rows[0] if k.endswith("_s")]
    out = {k.removesuffix("_s") + "_ms": 1000 * statistics.median(r[k] for r in rows) for k in keys}
    out["turns"] = len(rows)
    out["per_turn"] = {key: [round(1000 * r[_s(key)], 1) for r in rows]
                       for key, _ in FIGURES}  # in run order; turn i spoke sentence i (both points)
    out["replies_dropped_per_turn"] = statistics.mean(r["replies_started"] - 1 for r in rows)
    out["early_cuts"] = sum(r["early_cuts"] for r in rows)
    out["end_of_turn"] = stage.end_of_turn.status
    out["duplex"] = stage.duplex
    out["config"] = {"vad": dataclasses.asdict(stage.settings.vad),
                     "end_of_turn": dataclasses.asdict(stage.settings.end_of_turn),
                     "duplex": stage.settings.duplex, "barge_in": stage.settings.barge_in}
    if stage.end_of_turn.scorer is not None and false_cuts:
        paused = figures(SileroVad(), stage.end_of_turn.scorer, config=stage.settings, complete=[])
        out["paused_false_cut_rate"] = paused["paused_false_cut_rate"]
        out["paused_one_turn"] = f"{paused['paused_one_turn']}/{paused['paused_total']}"
    return out


def _s(key: str) -> str:
    """A row's key (seconds) for a figure's key (ms)."""
    return key.removesuffix("_ms") + "_s"


def _ratio(before: float, after: float) -> float:
    return before / after if after > 0 else math.nan


def format_before_after(h: dict, fmt) -> list[str]:
    """The before/after block of the suite's table (fmt: the table's number format)."""
    b = h["before"]
    lines = [f"headline, same run, same sentences ({h['turns']} turns each, order {'/'.join(h['order'])}), "
             f"{h['duplex']} duplex (the app default):",
             f"{'turn stage':<50} {'before':>10} {'after':>10} {'b/a':>7}", "-" * 80]
    for key, label in FIGURES:
        lines.append(f"{label:<50} {fmt(b[key]):>10} {fmt(h[key]):>10} {fmt(h['before_over_after'][key]):>7}")
    paired = h["before_over_after_paired"]["speech_end_to_first_sample_ms"]
    lines.append(f"{'  b/a per sentence (median over the sentences)':<50} {'':>10} {'':>10} {fmt(paired):>7}")
    lines.append(f"{'  speculation: replies dropped per turn':<50} {fmt(b['replies_dropped_per_turn']):>10} "
                 f"{fmt(h['replies_dropped_per_turn']):>10}")
    if "paused_false_cut_rate" in h and "paused_false_cut_rate" in b:
        lines.append(f"{'  paused sentences kept one turn (audio model)':<50} {b['paused_one_turn']:>10} "
                     f"{h['paused_one_turn']:>10}")
    eot = b["config"]["end_of_turn"]
    lines.append(f"before = bench/turn_baselines.py BEFORE_ISSUE_32 (policy {eot['policy']}, first check "
                 f"{eot['first_check_ms']:g} ms, commit {eot['commit_prob']:g}, hold {eot['hold_prob']:g}, max "
                 f"{eot['max_silence_ms']:g} ms); after = the app's defaults (policy "
                 f"{h['config']['end_of_turn']['policy']}, app.assembly.turn_stage)")
    return lines
