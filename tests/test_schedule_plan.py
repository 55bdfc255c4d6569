"""Chunk schedule + jitter buffer planned from measured speeds: the simulated reply never waits, and the fixed
per-call cost is what makes the default's small 2nd/3rd chunks stall."""

from __future__ import annotations

import pytest

from core.voice.chunk_schedule import DEFAULT_CHUNK_UNITS, ChunkSchedule
from core.voice.schedule_plan import (
    FRAME_S,
    VocoderSpeed,
    lm_units_per_s_from,
    measure_vocoder_speed,
    plan_playback,
    simulate,
)

FIRST_EMIT_S = ChunkSchedule().first_call_frames() * FRAME_S


def test_a_fast_machine_keeps_the_default_start_and_buffer():
    plan = plan_playback(VocoderSpeed(0.01, 0.001), lm_units_per_s=40.0)
    assert plan.gap_s == 0 and plan.prebuffer_ms == 120.0
    assert plan.schedule.chunk_units[0] == 8 and plan.schedule.chunk_units[-1] == 48


def test_a_slow_fixed_cost_stalls_the_default_and_the_plan_does_not():
    slow = VocoderSpeed(fixed_s=0.30, per_unit_s=0.004)  # each call pays 300 ms whatever its size
    _, gap = simulate(list(DEFAULT_CHUNK_UNITS), FIRST_EMIT_S, slow, 20.0, 0.12, 250)
    assert gap > 0.1  # the 5-unit chunks (400 ms of audio for > 300 ms of compute each) fall behind
    plan = plan_playback(slow, lm_units_per_s=20.0)
    assert plan.gap_s == 0
    _, gap = simulate(list(plan.schedule.chunk_units), FIRST_EMIT_S, slow, 20.0, plan.prebuffer_ms / 1000, 250)
    assert gap == 0
    assert plan.schedule.chunk_units[1] > 5  # bigger second chunk than the default's
    assert list(plan.schedule.chunk_units[1:]) == sorted(plan.schedule.chunk_units[1:])


def test_a_vocoder_slower_than_real_time_gets_a_deep_buffer():
    plan = plan_playback(VocoderSpeed(0.2, 0.09), lm_units_per_s=30.0)  # 90 ms per 80 ms unit
    assert plan.gap_s == 0 and plan.prebuffer_ms > 1000


def test_units_per_second_from_the_interleave():
    assert lm_units_per_s_from(30.0, 1, 2) == pytest.approx(20.0)
    assert lm_units_per_s_from(30.0, 4, 8) == pytest.approx(20.0)


def test_measured_on_the_tiny_decoder(tiny_decoder):
    from core.voice.token2wav import VoiceDecoder

    speed = measure_vocoder_speed(VoiceDecoder.load(tiny_decoder, backend="torch"), repeats=1)
    assert speed.fixed_s > 0 and speed.per_unit_s >= 0
