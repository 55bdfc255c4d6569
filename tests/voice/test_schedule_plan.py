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
DEFAULT = ChunkSchedule(chunk_units=DEFAULT_CHUNK_UNITS)


def test_a_fast_machine_keeps_the_default_start_and_buffer():
    plan = plan_playback(VocoderSpeed(0.01, 0.001), lm_units_per_s=40.0)
    assert plan.gap_s == 0 and plan.prebuffer_ms == 120.0
    assert plan.schedule.chunk_units[0] == 8 and plan.schedule.chunk_units[-1] == 48


def test_a_slow_fixed_cost_stalls_the_default_and_the_plan_does_not():
    slow = VocoderSpeed(fixed_s=0.30, per_unit_s=0.004)  # each call pays 300 ms whatever its size
    _, gap, _ = simulate(DEFAULT, slow, 20.0, 0.12, 250)
    assert gap > 0.1  # the 5-unit chunks (400 ms of audio for > 300 ms of compute each) fall behind
    plan = plan_playback(slow, lm_units_per_s=20.0)
    assert plan.gap_s == 0
    _, gap, _ = simulate(plan.schedule, slow, 20.0, plan.prebuffer_ms / 1000, 250)
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
    from core.voice.vocoder import Vocoder

    speed = measure_vocoder_speed(Vocoder.load(tiny_decoder, backend="torch"), repeats=1)
    assert speed.fixed_s > 0 and speed.per_unit_s >= 0


def test_the_lm_waits_for_the_first_chunk():
    """First-chunk priority: units after the first chunk come only once it is vocoded."""
    speed = VocoderSpeed(fixed_s=0.5, per_unit_s=0.0)
    eights = ChunkSchedule(chunk_units=(8, 8))
    first, _, _ = simulate(eights, speed, 80.0, 0.12, 16)
    assert first == pytest.approx(0.1 + 0.5)
    # the second chunk's units take 0.1 s after the first audio, then its 0.5 s call: 1.2 s, not 1.1 s
    _, gap, start = simulate(eights, speed, 80.0, 0.0, 16)
    assert start == pytest.approx(0.6) and gap == pytest.approx(1.2 - (0.6 + FIRST_EMIT_S))


def test_a_short_first_emission_gets_a_bigger_first_chunk():
    """The 8-unit first chunk emits ~280 ms (its overlap and HiFT tail are held back). When the next chunk cannot
    follow that soon, a larger first chunk starts playback earlier than a deep jitter buffer would."""
    speed = VocoderSpeed(fixed_s=0.25, per_unit_s=0.004)
    eight = plan_playback(speed, lm_units_per_s=40.0, first_choices=(8,))
    plan = plan_playback(speed, lm_units_per_s=40.0)
    assert eight.prebuffer_ms > 120.0  # 8 units alone needs a deeper buffer...
    assert plan.schedule.chunk_units[0] > 8 and plan.gap_s == 0  # ...the plan takes a bigger first chunk
    start = {}
    for name, p in (("eight", eight), ("plan", plan)):
        start[name] = simulate(p.schedule, speed, 40.0, p.prebuffer_ms / 1000, 250)[2]
    assert start["plan"] < start["eight"]


def test_the_second_call_emits_less_than_its_units(tiny_decoder):
    """It holds back the full 34-frame overlap where the first held back 17: the difference comes off its audio.
    The real decoder stream emits what the schedule says, call by call."""
    import torch

    from core.voice.vocoder import Vocoder
    from models.glm_constants import MEL_HOP_SAMPLES

    sched = ChunkSchedule(chunk_units=(8, 5, 20))
    assert sched.emitted_frames_through(0) == sched.first_call_frames() == 24
    assert sched.emitted_frames_through(1) - sched.emitted_frames_through(0) == 17  # 5 units = 34 frames
    stream = Vocoder.load(tiny_decoder, backend="torch").open_stream(sched, torch.Generator().manual_seed(0))
    out = [sum(c.size for c in stream.push(list(range(i, i + n)))) for i, n in ((0, 8), (8, 5), (13, 20))]
    want = [sched.emitted_frames_through(k) - (sched.emitted_frames_through(k - 1) if k else 0) for k in range(3)]
    assert out == [f * MEL_HOP_SAMPLES for f in want]


def test_play_out_starts_at_the_prebuffer_and_sums_the_waits():
    from core.voice.schedule_plan import play_out

    out = play_out([(0.42, 0.25), (1.14, 0.5), (1.24, 1.0)], prebuffer_s=0.12)
    assert out.start_s == pytest.approx(0.42)
    assert out.longest_gap_s == pytest.approx(1.14 - 0.67) == pytest.approx(out.total_stall_s)
    assert play_out([(0.1, 0.05), (0.3, 0.05)], prebuffer_s=1.0).start_s == pytest.approx(0.3)  # never filled
