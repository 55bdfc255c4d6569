"""The turn corpus benchmark's machinery: a policy replayed on recorded traces decides where the live detector
(simulate_turns) decides on the same audio; the operating point is the fastest one keeping enough paused
sentences; the figures count cuts and delays as documented."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from bench import turn_policies as tp
from bench import turn_sets
from bench.bench_turn_corpus import pick
from bench.turn_traces import CHECKS_MS, Silence, TracedCheck, trace_clip
from core.engine.config import EngineConfig
from core.turns.course import load_weights
from core.turns.offline import simulate_turns
from core.turns.smart_turn import TurnScore
from core.turns.vad import SileroVad


class TailQuiet:
    """A deterministic stand-in for Smart Turn: P(finished) grows with the quiet share of the last 0.6 s."""

    def score(self, samples):
        tail = np.abs(samples[-9600:])
        return TurnScore(float(np.clip(1.2 * (tail < 1e-3).mean(), 0.0, 0.99)), 0.0)


@pytest.fixture(scope="module")
def clips():
    out = []
    for first, pause_ms, rest in turn_sets.PAUSED[:2]:
        c = turn_sets.paused_clip(first, pause_ms, rest)
        out.append(("paused", c.samples))
    out.append(("complete", turn_sets.complete_clip(turn_sets.COMPLETE[0]).samples))
    return out


def _speech_end_s(x: np.ndarray) -> float:
    return (np.flatnonzero(np.abs(x) >= 1e-3)[-1] + 1) / turn_sets.RATE_HZ


@pytest.mark.parametrize("threshold", [0.3, 0.6, 0.9])
def test_replay_decides_where_the_live_detector_does(clips, threshold):
    weights = load_weights()
    eot = dataclasses.replace(EngineConfig().end_of_turn, policy="course", commit_score=threshold)
    assert (eot.first_check_ms, eot.check_every_ms, eot.max_silence_ms) == (CHECKS_MS[0], CHECKS_MS[1] - CHECKS_MS[0],
                                                                         CHECKS_MS[-1])
    cfg = dataclasses.replace(EngineConfig(), end_of_turn=eot, duplex="half")  # commit_score is half duplex's
    vad, scorer = SileroVad(), TailQuiet()
    decide = tp.course(weights, threshold, compute_ms=0.0)
    decided = 0
    for _kind, x in clips:
        trace = trace_clip(x, _speech_end_s(x), vad, scorer)
        # the first silence the replay ends, in file time
        first = next(((s.start_s + t / 1000) for s in trace.silences
                      if (t := decide(s, [None] * len(s.checks))) is not None), None)
        live = simulate_turns(x, cfg, vad, scorer, count_compute=False)
        live_first = live[0].early_commits_s[0] if live[0].early_commits_s else live[0].decided_s
        # the first decision at the same frame (after it, the live detector starts a new turn: the trace does not)
        assert first == pytest.approx(live_first, abs=0.033)
        decided += first < _speech_end_s(x)  # an early commit inside the sentence
    if threshold == 0.3:
        assert decided >= 1  # the comparison covers an early commit too


def test_a_paused_clip_is_cut_when_any_inner_pause_commits_and_delay_is_from_the_true_end():
    def silence(start_s, final, probs):
        checks = [TracedCheck(ms, p, 0.0, start_s + ms / 1000) for ms, p in zip(CHECKS_MS, probs, strict=False)]
        return Silence(start_s, final, 1000.0, [0.0] * 8, 0.0, checks[-1].silence_ms if not final else 1200.0,
                       checks)
    traces = {"p": SimpleNamespace(silences=[silence(1.0, False, [0.1, 0.95]), silence(3.0, True, [0.99])]),
              "c": SimpleNamespace(silences=[silence(2.0, True, [0.2, 0.2, 0.97])])}
    clips = [SimpleNamespace(id="p", kind="paused", speech_end_s=2.95),
             SimpleNamespace(id="c", kind="complete", speech_end_s=1.9)]
    res = tp.replay(tp.smart_now(0.9, compute_ms=50.0), clips, traces)
    assert res[0].cut and not res[1].cut
    assert res[1].delay_ms == pytest.approx(100 + 288 + 50)  # VAD lag 100 ms + the third call + its compute
    s = tp.summary(res)
    assert (s["paused_kept"], s["paused"], s["median_ms"]) == (0, 1, pytest.approx(438))


def test_the_operating_point_is_the_fastest_that_keeps_enough():
    curve = [{"param": 0.5, "median_ms": 200, "p90_ms": 400, "paused_kept_rate": 0.5},
             {"param": 0.7, "median_ms": 400, "p90_ms": 700, "paused_kept_rate": 0.9},
             {"param": 0.8, "median_ms": 500, "p90_ms": 800, "paused_kept_rate": 0.97},
             {"param": 0.9, "median_ms": 900, "p90_ms": 1000, "paused_kept_rate": 1.0}]
    assert pick(curve, 0.95)["param"] == 0.8
    assert pick(curve, 0.85)["param"] == 0.7
    assert pick(curve, 1.01)["param"] == 0.9  # none keeps enough: the one that keeps the most
