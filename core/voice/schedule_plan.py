"""Chunk schedule and jitter buffer chosen from this machine's measured speeds, so playback never waits.

A vocoder call costs a fixed part whatever its size (the flow prompt's frames, 10 guided flow steps, HiFT's
context) plus a part per unit: `VocoderSpeed(fixed_s, per_unit_s)`, measured by `measure_vocoder_speed()` on
the real decoder. Units arrive from the LM at `lm_units_per_s`. `plan_playback()` simulates one reply: the
first chunk is `first_units` (it sets the time to first audio); every later chunk is the largest size that is
ready and vocoded before the audio already emitted runs out (`margin_s` to spare), growing to `max_units`; if
no size can avoid a gap, playback starts later instead: the jitter buffer (`prebuffer_ms`) grows until the
simulated reply plays without a gap. Small chunks are what make gaps: each pays the fixed part again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from core.voice.chunk_schedule import ChunkSchedule
from models.glm_constants import MEL_HOP_SAMPLES, SAMPLE_RATE_HZ, UNIT_RATE_HZ

log = logging.getLogger(__name__)

UNIT_S = 1.0 / UNIT_RATE_HZ  # 80 ms of audio per unit
FRAME_S = MEL_HOP_SAMPLES / SAMPLE_RATE_HZ
PREBUFFER_STEP_MS = 40.0


@dataclass(frozen=True)
class VocoderSpeed:
    fixed_s: float  # per call
    per_unit_s: float

    def call_s(self, units: int) -> float:
        return self.fixed_s + self.per_unit_s * units


@dataclass(frozen=True)
class PlaybackPlan:
    schedule: ChunkSchedule
    prebuffer_ms: float
    first_audio_s: float  # simulated: first unit decoded -> first chunk vocoded
    gap_s: float  # simulated longest wait inside the reply (0: none)


def simulate(chunks: list[int], first_emit_s: float, speed: VocoderSpeed, lm_units_per_s: float,
             prebuffer_s: float, total_units: int) -> tuple[float, float]:
    """(first audio time, longest gap) of a reply of `total_units` vocoded in `chunks` (the last size repeats).
    Times from the first unit's decoding; audio of chunk k > 0 counted as its units (the first chunk's held-back
    frames come with the last)."""
    done = 0.0
    units = 0
    emitted = []  # (time ready, seconds of audio)
    k = 0
    while units < total_units:
        n = min(chunks[min(k, len(chunks) - 1)], total_units - units)
        ready = (units + n) / lm_units_per_s
        done = max(done, ready) + speed.call_s(n)
        audio = first_emit_s if k == 0 else n * UNIT_S
        emitted.append((done, audio))
        units += n
        k += 1
    emitted.append((done, max(0.0, total_units * UNIT_S - sum(a for _, a in emitted))))
    first = emitted[0][0]
    # playback starts once prebuffer_s of audio is there (or all of it)
    have, start = 0.0, emitted[-1][0]
    for t, a in emitted:
        have += a
        if have >= prebuffer_s:
            start = t
            break
    clock, gap = start, 0.0
    for t, a in emitted:
        if t > clock:
            gap = max(gap, t - clock)
            clock = t
        clock += a
    return first, gap


def plan_playback(speed: VocoderSpeed, lm_units_per_s: float, first_units: int = 8, max_units: int = 48,
                  margin_s: float = 0.05, reply_units: int = 250, base_prebuffer_ms: float = 120.0) -> PlaybackPlan:
    first_overlap = ChunkSchedule().first_overlap_frames
    base = ChunkSchedule(chunk_units=(first_units,), first_overlap_frames=first_overlap)
    first_emit_s = base.first_call_frames() * FRAME_S
    chunks = [first_units]
    done = first_units / lm_units_per_s + speed.call_s(first_units)
    audio_end = done + first_emit_s
    units = first_units
    while chunks[-1] < max_units and units < reply_units:
        fits = [n for n in range(1, max_units + 1)
                if max(done, (units + n) / lm_units_per_s) + speed.call_s(n) <= audio_end - margin_s]
        # the largest chunk that keeps up; none: the one that loses the least audio per second of compute
        n = max(fits) if fits else max(range(1, max_units + 1), key=lambda m: m * UNIT_S / speed.call_s(m))
        n = max(n, chunks[-1]) if len(chunks) > 1 else n  # sizes never shrink after the second
        done = max(done, (units + n) / lm_units_per_s) + speed.call_s(n)
        audio_end = max(audio_end, done) + n * UNIT_S
        units += n
        chunks.append(n)
        if not fits and n == max_units:
            break
    prebuffer_ms = base_prebuffer_ms
    while True:
        first, gap = simulate(chunks, first_emit_s, speed, lm_units_per_s, prebuffer_ms / 1000, reply_units)
        if gap <= 0.0 or prebuffer_ms >= reply_units * UNIT_S * 1000:
            break
        prebuffer_ms += PREBUFFER_STEP_MS
    schedule = ChunkSchedule(chunk_units=tuple(chunks), first_overlap_frames=first_overlap)
    log.info("playback plan: chunks %s, prebuffer %.0f ms (vocoder %.0f ms + %.1f ms/unit, LM %.1f units/s)",
             chunks, prebuffer_ms, 1000 * speed.fixed_s, 1000 * speed.per_unit_s, lm_units_per_s)
    return PlaybackPlan(schedule, prebuffer_ms, first, gap)


def measure_vocoder_speed(decoder, sizes: tuple[int, int] = (8, 32), repeats: int = 2) -> VocoderSpeed:
    """Time second calls (a prompt of earlier units, as in a reply) of two chunk sizes on `decoder`
    (a VoiceDecoder: `open_stream(schedule, generator)`); a line through the medians."""
    import torch

    times = []
    for n in sizes:
        runs = []
        for r in range(repeats):
            stream = decoder.open_stream(ChunkSchedule(chunk_units=(n,)), torch.Generator().manual_seed(r))
            stream.push(list(range(n)))  # first call (no prompt)
            t0 = time.perf_counter()
            stream.push(list(range(n, 2 * n)))
            runs.append(time.perf_counter() - t0)
        times.append(sorted(runs)[len(runs) // 2])
    (n0, n1), (t0, t1) = sizes, times
    per_unit = max(0.0, (t1 - t0) / (n1 - n0))
    return VocoderSpeed(max(1e-4, t0 - per_unit * n0), per_unit)


def lm_units_per_s_from(steps_per_s: float, text_span: int, speech_span: int) -> float:
    """Units/s a runner makes at `steps_per_s` decode steps (text and unit steps alike) at interleave ts:ss."""
    return steps_per_s * speech_span / (text_span + speech_span)

