"""bench/suite.py on the tiny preset with minimal sizes: structure and the invariants that must hold whatever the
machine's speed (no timed assertions)."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from bench.suite import format_table, measure
from bench.suite_measure import expected_steps_before_audio
from core.voice.chunk_schedule import DEFAULT_CHUNK_UNITS
from models.glm_constants import REFERENCE_CHUNK_UNITS


@pytest.fixture(scope="module")
def suite_result(tiny_checkpoint, tiny_decoder):
    return measure(tiny_checkpoint, tiny_decoder, repeats=1, max_text=16, max_units=32, turns=3, n_engine_turns=1,
                   clip_s=1.0, headline_turns=1, false_cuts=False)


def test_headline_is_end_of_speech_to_first_sample_first_row(suite_result):
    assert "headline" in suite_result, "no spoken turns: is espeak-ng installed (see .ci/install)?"
    h = suite_result["headline"]
    assert h["turns"] == 1 and h["speech_end_to_first_sample_ms"] > h["decision_ms"] > 0
    assert h["replies_dropped_per_turn"] >= 0
    first_row = format_table(suite_result).splitlines()[2]
    assert first_row.startswith("END OF SPEECH -> FIRST REPLY SAMPLE")


def test_headline_measures_before_issue_32_and_the_app_defaults_in_the_same_run(suite_result):
    """The same sentence, spoken once with the pre-issue-32 turn stage and once with the app's defaults (one turn
    each: after, then before), reported side by side with the duplex mode measured."""
    from app.config import CompanionConfig
    from bench.turn_baselines import BEFORE_ISSUE_32

    h = suite_result["headline"]
    before = h["before"]
    assert h["order"] == ["after", "before"] and before["turns"] == h["turns"] == 1
    for fig in ("speech_end_to_first_sample_ms", "decision_ms", "after_decision_ms"):
        assert before[fig] > 0 and h[fig] > 0
        assert h["before_over_after"][fig] == pytest.approx(before[fig] / h[fig])
        assert h["before_over_after_paired"][fig] == pytest.approx(before[fig] / h[fig])  # one sentence: the same
        assert before["per_turn"][fig] == [pytest.approx(before[fig], abs=0.05)]
    for point in (h, before):  # the wait is the decision plus the rest, per turn
        assert point["speech_end_to_first_sample_ms"] == pytest.approx(point["decision_ms"] +
                                                                       point["after_decision_ms"], abs=1e-6)
    assert before["config"]["end_of_turn"] == dataclasses.asdict(BEFORE_ISSUE_32)
    app = CompanionConfig().engine
    assert h["config"]["end_of_turn"] == dataclasses.asdict(app.end_of_turn)
    assert h["duplex"] == before["duplex"] == ("full" if app.barge_in else "half")
    assert suite_result["ratios"]["headline_before_over_after"] == h["before_over_after"][
        "speech_end_to_first_sample_ms"]
    table = format_table(suite_result)
    assert f"{h['duplex']} duplex (the app default)" in table
    assert "BEFORE_ISSUE_32" in table and "the rest (dispatch -> first sample) ms" in table


def test_expected_steps_follow_the_interleave_schedule():
    assert expected_steps_before_audio(16, 1, 2) == (8, 16)
    assert expected_steps_before_audio(24, 1, 2) == (12, 24)
    assert expected_steps_before_audio(10, 3, 4) == (9, 10)  # 3 spans of 4 units, 3 text tokens before each


def test_baseline_and_ours_produce_the_same_greedy_tokens(suite_result):
    assert suite_result["same_tokens"] is True
    assert suite_result["ours"]["text_tokens"] == suite_result["baseline"]["text_tokens"] > 0
    assert suite_result["ours"]["tts_tokens"] == suite_result["baseline"]["tts_tokens"] > 0


def test_steps_before_first_audio_match_the_chunk_schedules(suite_result):
    ts, ss = suite_result["text_span"], suite_result["speech_span"]
    for name, first_chunk in (("ours", DEFAULT_CHUNK_UNITS[0]), ("baseline", REFERENCE_CHUNK_UNITS)):
        row = suite_result[name]
        assert row["first_chunk_units"] == first_chunk
        steps = (row["text_steps_before_audio"], row["unit_steps_before_audio"])
        assert steps == expected_steps_before_audio(first_chunk, ts, ss) == tuple(suite_result["expected_steps"][name])
    assert suite_result["ratios"]["steps_before_audio"] == pytest.approx((4 + 8) / (12 + 24))  # 1:2, 8 vs 24 units


def test_ratios_are_positive_and_finite(suite_result):
    for key, value in suite_result["ratios"].items():
        if key == "engine_overhead":  # a difference, may be slightly negative on a noisy machine
            assert math.isfinite(value) and value > -1, key
            continue
        assert math.isfinite(value) and value > 0, key


def test_multi_turn_reuses_the_prefix_only_for_ours(suite_result):
    mt = suite_result["multi_turn"]
    assert mt["turns"] == 3 and mt["same_kind_turn"] == 3
    assert 0 < mt["last_turn_reused"]["ours"] < mt["last_turn_positions"]
    assert mt["last_turn_reused"]["baseline"] == 0
    for key in ("ours_growth", "baseline_growth", "ours_growth_same_kind", "last_turn_speedup"):
        assert math.isfinite(mt[key]) and mt[key] > 0, key


def test_engine_path_and_report_structure(suite_result):
    eng = suite_result["engine"]
    assert eng["dispatch_to_first_sample_ms"] >= eng["dispatch_to_first_audio_ms"] > 0
    assert suite_result["memory"]["peak_rss_mb"] > 0
    spoken = {"end of speech -> first sample >= 2.5x reference"} if "headline" in suite_result else set()
    assert set(suite_result["targets"]) == {
        "steps_before_audio <= 1/3 baseline", "first audio >= 3x faster (dispatch)",
        "prefill turn 10 <= 1.5x turn 1", "engine overhead < 10%"} | spoken
    assert suite_result["targets"]["steps_before_audio <= 1/3 baseline"]["met"] is True  # 12 vs 36 steps
    table = format_table(suite_result)
    assert "decode steps before first audio" in table and "target" in table
    json.dumps(suite_result, default=str)


def test_spoken_turns_measure_the_speculative_start(suite_result):
    """With espeak-ng (CI installs it) the suite speaks into the fake mic: the VAD dispatches the turn, the
    speculative reply has a head start, and the baseline answers the very audio the VAD dispatched."""
    assert "engine_vad" in suite_result, "no spoken turns: is espeak-ng installed (see .ci/install)?"
    vad = suite_result["engine_vad"]
    assert vad["speculative"]["head_start_ms"] > 0 and vad["no_speculation"]["head_start_ms"] == 0
    assert suite_result["clip"].startswith("espeak-ng")
    for row in (vad["speculative"], vad["no_speculation"]):
        assert row["speech_end_to_first_sample_ms"] > row["dispatch_to_first_sample_ms"] > 0
    assert "spoken, speculative" in format_table(suite_result)
