"""Chunk schedule and jitter buffer chosen from this machine's measured speeds, so playback never waits.

A vocoder call costs a fixed part whatever its size (the flow prompt's frames, 10 guided flow steps, HiFT's
context) plus a part per unit: `VocoderSpeed(fixed_s, per_unit_s)`, measured by `measure_vocoder_speed()` on
the real decoder. Units arrive from the LM at `lm_units_per_s`, and the LM waits while the first chunk is vocoded
(first-chunk priority). `plan_playback()` simulates one reply for each first-chunk size: every later chunk is the
largest size that is ready and vocoded before the audio already emitted runs out (`margin_s` to spare), growing
to `max_units`; if no size can avoid a gap, playback starts later instead: the jitter buffer (`prebuffer_ms`)
grows until the simulated reply plays without a gap. The plan that starts playing first wins. Small chunks are
what make gaps: each pays the fixed part again, and a small first chunk emits little audio.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

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
    """How the engine plays a vocoder's replies: each reply's stream is opened with `schedule` and a generator
    seeded with `seed` (reproducible audio), and plays through a jitter buffer of `prebuffer_ms` (None: the engine's
    AudioConfig.prebuffer_ms). `plan_playback()` also records what its simulation found."""

    schedule: ChunkSchedule = field(default_factory=ChunkSchedule)  # the "fast" preset
    prebuffer_ms: float | None = None
    seed: int = 0
    first_audio_s: float | None = None  # simulated: first unit decoded -> first chunk vocoded (None: not planned)
    gap_s: float | None = None  # simulated longest wait inside the reply (0: none; None: not planned)

    def __post_init__(self) -> None:
        if self.prebuffer_ms is not None and self.prebuffer_ms < 0.0:
            raise ValueError(f"prebuffer_ms must be None or >= 0, got {self.prebuffer_ms}")

    @classmethod
    def preset(cls, name: str, seed: int = 0) -> PlaybackPlan:
        """A ChunkSchedule preset (`fast`, `smooth`, `reference`) with the engine's default jitter buffer."""
        return cls(ChunkSchedule.preset(name), seed=seed)


FIRST_UNITS_CHOICES = (8, 10, 12, 14, 16)  # first chunks the plan weighs: time to first audio vs audio emitted


def _unit_ready_s(u: int, first_units: int, first_done_s: float, lm_units_per_s: float) -> float:
    """When the LM has decoded `u` units. First-chunk priority (core.engine.reply_job): the LM stops after the first
    chunk's units until the vocoder has made the first audio (`first_done_s`), then goes on."""
    if u <= first_units:
        return u / lm_units_per_s
    return first_done_s + (u - first_units) / lm_units_per_s


def _emitted_s(schedule: ChunkSchedule, index: int) -> float:
    """Seconds of audio the `index`-th call adds (the last call, the flush, adds what is left)."""
    before = schedule.emitted_frames_through(index - 1) if index > 0 else 0
    return max(0, schedule.emitted_frames_through(index) - before) * FRAME_S


def simulate(schedule: ChunkSchedule, speed: VocoderSpeed, lm_units_per_s: float, prebuffer_s: float,
             total_units: int) -> tuple[float, float, float]:
    """(first audio time, longest gap, playback start) of a reply of `total_units` vocoded on `schedule`. Times
    from the reply's first decode step; each call emits what `ChunkSchedule.emitted_frames_through` says."""
    first_units = schedule.chunk_units[0]
    done = first_done = 0.0
    units = 0
    emitted = []  # (time ready, seconds of audio)
    k = 0
    while units < total_units:
        n = min(schedule.units_for_chunk(k), total_units - units)
        ready = _unit_ready_s(units + n, first_units, first_done, lm_units_per_s)
        done = max(done, ready) + speed.call_s(n)
        if k == 0:
            first_done = done
        emitted.append((done, _emitted_s(schedule, k)))
        units += n
        k += 1
    emitted.append((done, max(0.0, total_units * UNIT_S - sum(a for _, a in emitted))))
    out = play_out(emitted, prebuffer_s)
    return emitted[0][0], out.longest_gap_s, out.start_s


@dataclass(frozen=True)
class PlayOut:
    start_s: float  # playback starts
    longest_gap_s: float  # the longest wait for a late piece
    total_stall_s: float  # all the waits together


def play_out(ready: list[tuple[float, float]], prebuffer_s: float) -> PlayOut:
    """Playback of audio pieces `(time ready, seconds of audio)` through the jitter buffer: it starts once
    `prebuffer_s` of audio is there (or the last piece is) and waits whenever the next piece is late."""
    if not ready:
        return PlayOut(0.0, 0.0, 0.0)
    have, start = 0.0, ready[-1][0]
    for t, a in ready:
        have += a
        if have >= prebuffer_s:
            start = t
            break
    clock, gap, stall = start, 0.0, 0.0
    for t, a in ready:
        if t > clock:
            gap, stall = max(gap, t - clock), stall + t - clock
            clock = t
        clock += a
    return PlayOut(start, gap, stall)


def _chunks_for(first_units: int, first_overlap: int, speed: VocoderSpeed, lm_units_per_s: float,
                max_units: int, margin_s: float, reply_units: int) -> list[int]:
    """After the first chunk, each chunk is the largest that is decoded and vocoded `margin_s` before the audio
    already emitted runs out, growing to `max_units` (none keeps up: the one losing the least audio per second)."""
    chunks = [first_units]

    def schedule(extra: int | None = None) -> ChunkSchedule:
        units = tuple(chunks) if extra is None else (*chunks, extra)
        return ChunkSchedule(chunk_units=units, first_overlap_frames=first_overlap)

    done = first_done = _unit_ready_s(first_units, first_units, 0.0, lm_units_per_s) + speed.call_s(first_units)
    audio_end = done + _emitted_s(schedule(), 0)
    units = first_units

    def finish(n: int) -> float:
        return max(done, _unit_ready_s(units + n, first_units, first_done, lm_units_per_s)) + speed.call_s(n)

    while chunks[-1] < max_units and units < reply_units:
        fits = [n for n in range(1, max_units + 1) if finish(n) <= audio_end - margin_s]
        n = max(fits) if fits else max(range(1, max_units + 1), key=lambda m: m * UNIT_S / speed.call_s(m))
        n = max(n, chunks[-1]) if len(chunks) > 1 else n  # sizes never shrink after the second
        done = finish(n)
        audio_end = max(audio_end, done) + _emitted_s(schedule(n), len(chunks))
        units += n
        chunks.append(n)
        if not fits and n == max_units:
            break
    return chunks


def plan_playback(speed: VocoderSpeed, lm_units_per_s: float, first_choices: tuple[int, ...] = FIRST_UNITS_CHOICES,
                  max_units: int = 48, margin_s: float = 0.15, reply_units: int = 250,
                  base_prebuffer_ms: float = 120.0) -> PlaybackPlan:
    """The plan whose simulated reply starts playing first and then never waits. A small first chunk makes the
    first audio early but emits little (its overlap and HiFT tail are held back), so the second chunk must come
    soon; a larger one emits more and gives the LM time. Each first size gets its chunks and the jitter buffer it
    needs (grown in PREBUFFER_STEP_MS until no gap); the earliest playback start wins (ties: the smaller chunk)."""
    first_overlap = ChunkSchedule().first_overlap_frames
    best: tuple[float, PlaybackPlan] | None = None
    for first_units in first_choices:
        chunks = _chunks_for(first_units, first_overlap, speed, lm_units_per_s, max_units, margin_s, reply_units)
        schedule = ChunkSchedule(chunk_units=tuple(chunks), first_overlap_frames=first_overlap)
        prebuffer_ms = base_prebuffer_ms
        while True:
            first, gap, start = simulate(schedule, speed, lm_units_per_s, prebuffer_ms / 1000, reply_units)
            if gap <= 0.0 or prebuffer_ms >= reply_units * UNIT_S * 1000:
                break
            prebuffer_ms += PREBUFFER_STEP_MS
        if best is None or start < best[0] - 1e-9:
            best = (start, PlaybackPlan(schedule, prebuffer_ms, first_audio_s=first, gap_s=gap))
    plan = best[1]
    log.info("playback plan: chunks %s, prebuffer %.0f ms (vocoder %.0f ms + %.1f ms/unit, LM %.1f units/s)",
             list(plan.schedule.chunk_units), plan.prebuffer_ms, 1000 * speed.fixed_s, 1000 * speed.per_unit_s,
             lm_units_per_s)
    return plan


def measure_vocoder_speed(vocoder, sizes: tuple[int, int] = (8, 32), repeats: int = 3) -> VocoderSpeed:
    """Time second calls (a prompt of earlier units, as in a reply) of two chunk sizes on `vocoder`
    (`open_stream(schedule, generator)`: core.voice.vocoder.Vocoder); a line through the slowest of `repeats` runs."""
    import torch

    times = []
    for n in sizes:
        runs = []
        for r in range(repeats):
            stream = vocoder.open_stream(ChunkSchedule(chunk_units=(n,)), torch.Generator().manual_seed(r))
            stream.push(list(range(n)))  # first call (no prompt)
            t0 = time.perf_counter()
            stream.push(list(range(n, 2 * n)))
            runs.append(time.perf_counter() - t0)
        times.append(max(runs))  # the slowest: a plan from a lucky run leaves no room (gaps at the sink)
    (n0, n1), (t0, t1) = sizes, times
    per_unit = max(0.0, (t1 - t0) / (n1 - n0))
    return VocoderSpeed(max(1e-4, t0 - per_unit * n0), per_unit)


def lm_units_per_s_from(steps_per_s: float, text_span: int, speech_span: int) -> float:
    """Units/s a runner makes at `steps_per_s` decode steps (text and unit steps alike) at interleave ts:ss."""
    return steps_per_s * speech_span / (text_span + speech_span)

