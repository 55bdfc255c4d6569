"""The first vocoder chunk's trade-off: seam error against a whole decode, first audio and playback stalls,
decode steps before the first audio. Candidates are written "UNITS,UNITS,...@FIRST_OVERLAP".

    python bench/bench_first_chunk.py --make tiny                    # all three parts, default candidates
    python bench/bench_first_chunk.py --make real --units 48 --seeds 1 --parts seam
    python bench/bench_first_chunk.py --decoder DIR --candidates 16,12,24,48@34 8,8,16,24,48@17

seam:   each candidate streams the same units with the same noise as a whole-utterance decode; the mel HiFT
        received (its left context removed) and the waveform are compared with the whole decode's around the
        first seam (+-SEAM_HALF_FRAMES frames), over the first call's committed frames and over everything.
        Mel errors are also given relative to the RMS difference another noise seed makes (whole vs whole) in
        the same frames, waveform errors relative to the whole waveform's peak (seam) or to another seed's
        difference (head). "head" = the first 2 s, the same span for every candidate. Random weights say nothing
        about perceptual quality; these are structural differences from the seamless decode only.
timing: units pushed one by one, per-call compute measured (median of --repeats), then replayed against units
        arriving at each --rates value with the engine's 120 ms prebuffer and its first-chunk priority (the LLM
        waits while the vocoder computes until the first audio is out): playback start and total stall.
steps:  decode steps before the first audio, ceil(N / speech_span) * text_span + N, per interleave, against the
        reference worker's 24-unit first chunk.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO_ROOT))

from bench.bench_vocoder import WARMUP_UNITS, simulate_playout  # noqa: E402
from core.voice.chunk_schedule import ChunkSchedule  # noqa: E402
from models.glm_constants import (  # noqa: E402
    MEL_HOP_SAMPLES,
    MEL_OVERLAP_FRAMES,
    REFERENCE_CHUNK_UNITS,
    SAMPLE_RATE_HZ,
    UNIT_VOCAB_SIZE,
)

log = logging.getLogger(__name__)

DEFAULT_CANDIDATES = (
    "16,12,24,48@34",  # the default before this bench
    "8,8,16,24,48@34",
    "8,8,16,24,48@24",
    "8,8,16,24,48@17",
    "8,8,16,24,48@12",
)
DEFAULT_RATES = (25.0, 40.0, 80.0)  # units/s from the LLM (12.5 = real time)
INTERLEAVES = ((1, 2), (3, 1), (4, 8), (13, 26))  # (text span, speech span)
PREBUFFER_S = 0.120  # EngineConfig's AudioConfig.prebuffer_ms
SEAM_HALF_FRAMES = MEL_OVERLAP_FRAMES // 2  # seam window: 17 frames (~200 ms) to each side
HEAD_FRAMES = 172  # the first 2 s of audio: the same span for every candidate, a few seams each
TARGET_STEPS_RATIO = 1 / 3
OTHER_SEED_OFFSET = 1000  # the "another noise seed" reference decode


def parse_candidate(text: str) -> ChunkSchedule:
    units, _, overlap = text.partition("@")
    chunk_units = tuple(int(u) for u in units.split(","))
    return ChunkSchedule(chunk_units=chunk_units, first_overlap_frames=int(overlap or MEL_OVERLAP_FRAMES))


def label(schedule: ChunkSchedule) -> str:
    return ",".join(map(str, schedule.chunk_units)) + f"@{schedule.first_overlap_frames}"


# ---- seam error ---------------------------------------------------------------------------------------------
@dataclass
class Decoded:
    mel: torch.Tensor  # [80, T] committed mel (HiFT inputs without their left context)
    audio: np.ndarray  # [L]
    first_frames: int  # mel frames the first HiFT call committed
    first_samples: int  # samples of the first audio chunk
    seams: list[int]  # mel frame index where each later HiFT call's committed frames begin


def decode_with_mel(dec, unit_ids: list[int], schedule: ChunkSchedule, seed: int, whole: bool) -> Decoded:
    """Decode (streamed one unit per push, or whole) and record what each HiFT call received."""
    inputs: list[torch.Tensor] = []
    original = dec.run_hift

    def spy(mel, cache, noise, f0=None):
        inputs.append(mel[0].clone())
        return original(mel, cache, noise, f0)

    dec.run_hift = spy
    try:
        if whole:
            chunks = [dec.decode(unit_ids, torch.Generator().manual_seed(seed), schedule=schedule)]
        else:
            stream = dec.open_stream(schedule, torch.Generator().manual_seed(seed))
            chunks = [c for u in unit_ids for c in stream.push([u])] + stream.flush()
    finally:
        del dec.run_hift
    committed, n_ctx = [], 0
    for mel in inputs:  # each call's first n_ctx frames are the previous call's last frames
        committed.append(mel[:, n_ctx:])
        n_ctx = min(schedule.hift_context_frames, mel.shape[-1])
    seams = np.cumsum([m.shape[-1] for m in committed])[:-1].tolist()
    return Decoded(torch.cat(committed, -1), np.concatenate(chunks), inputs[0].shape[-1], len(chunks[0]), seams)


def _window(center: int) -> slice:
    return slice(max(0, center - SEAM_HALF_FRAMES), center + SEAM_HALF_FRAMES)


def _rms(x) -> float:
    return float(np.sqrt(np.mean(np.square(np.asarray(x, dtype=np.float64))))) if np.size(x) else math.nan


def seam_errors(dec, unit_ids: list[int], schedule: ChunkSchedule, seed: int, whole: Decoded,
                other: Decoded) -> dict:
    s = decode_with_mel(dec, unit_ids, schedule, seed, whole=False)
    if s.mel.shape != whole.mel.shape or s.audio.shape != whole.audio.shape:
        raise AssertionError(f"{label(schedule)}: streamed {s.mel.shape}/{s.audio.shape} vs whole "
                             f"{whole.mel.shape}/{whole.audio.shape}")
    mel_err, mel_seed = (s.mel - whole.mel).numpy(), (other.mel - whole.mel).numpy()
    seam = _window(s.first_frames)
    first, head = slice(0, s.first_frames), slice(0, HEAD_FRAMES)
    half = SEAM_HALF_FRAMES * MEL_HOP_SAMPLES
    wave = slice(max(0, s.first_samples - half), s.first_samples + half)
    wave_head = slice(0, HEAD_FRAMES * MEL_HOP_SAMPLES)
    wave_err, wave_seed = s.audio - whole.audio, other.audio - whole.audio
    peak = float(np.abs(whole.audio).max())
    return {
        "first_call_audio_ms": 1000 * s.first_samples / SAMPLE_RATE_HZ,
        "mel_seam_max": float(np.abs(mel_err[:, seam]).max()),
        "mel_seam_rms": _rms(mel_err[:, seam]),
        "mel_seam_rel": _rms(mel_err[:, seam]) / _rms(mel_seed[:, seam]),
        "mel_first_rel": _rms(mel_err[:, first]) / _rms(mel_seed[:, first]),
        "mel_worst_seam_rel": max(_rms(mel_err[:, _window(c)]) / _rms(mel_seed[:, _window(c)]) for c in s.seams),
        "mel_head_rel": _rms(mel_err[:, head]) / _rms(mel_seed[:, head]),
        "mel_all_rel": _rms(mel_err) / _rms(mel_seed),
        "wave_seam_max_rel": float(np.abs(wave_err[wave]).max()) / peak,
        "wave_seam_rms_rel": _rms(wave_err[wave]) / peak,
        "wave_head_rel": _rms(wave_err[wave_head]) / _rms(wave_seed[wave_head]),
    }


def seam_table(dec, schedules: list[ChunkSchedule], n_units: int, seeds: int) -> list[dict]:
    rows = {label(s): [] for s in schedules}
    for seed in range(seeds):
        unit_ids = random_units(n_units, seed)
        whole = decode_with_mel(dec, unit_ids, ChunkSchedule(), seed, whole=True)
        other = decode_with_mel(dec, unit_ids, ChunkSchedule(), seed + OTHER_SEED_OFFSET, whole=True)
        for schedule in schedules:
            rows[label(schedule)].append(seam_errors(dec, unit_ids, schedule, seed, whole, other))
    out = []
    for name, per_seed in rows.items():  # maxima: worst seed; everything else: mean over seeds
        row = {"schedule": name}
        for key in per_seed[0]:
            values = [r[key] for r in per_seed]
            row[key] = max(values) if "_max" in key else statistics.fmean(values)
        out.append(row)
    return out


# ---- first audio and stalls ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Call:
    n_units: int
    samples: int
    flow_s: float
    hift_s: float
    final: bool


def timed_calls(dec, unit_ids: list[int], schedule: ChunkSchedule, repeats: int) -> list[Call]:
    """The stream's calls with the median compute time of each over `repeats` runs."""
    runs = []
    for _ in range(repeats):
        stream = dec.open_stream(schedule, torch.Generator().manual_seed(0))
        for unit in unit_ids:
            stream.push([unit])
        stream.flush()
        runs.append(stream.records)
    return [Call(r[0].n_units, r[0].samples, statistics.median(x.flow_s for x in r),
                 statistics.median(x.hift_s for x in r), r[0].final) for r in zip(*runs, strict=True)]


def timing_table(dec, schedules: list[ChunkSchedule], n_units: int, repeats: int,
                 rates: tuple[float, ...]) -> list[dict]:
    unit_ids = random_units(n_units, 0)
    dec.decode(unit_ids[:WARMUP_UNITS], torch.Generator().manual_seed(0))  # warm-up
    rows = []
    for schedule in schedules:
        calls = timed_calls(dec, unit_ids, schedule, repeats)
        first = next(c for c in calls if c.samples)
        audio_s = sum(c.samples for c in calls) / SAMPLE_RATE_HZ
        row = {"schedule": label(schedule), "calls": len(calls), "first_compute_s": first.flow_s + first.hift_s,
               "first_audio_ms": 1000 * first.samples / SAMPLE_RATE_HZ,
               "rtf_total": sum(c.flow_s + c.hift_s for c in calls) / audio_s}
        for rate in rates:
            start, stall = simulate_playout(calls, n_units, rate, SAMPLE_RATE_HZ, PREBUFFER_S, first_chunk_pause=True)
            row[f"start_s@{rate:g}"], row[f"stall_s@{rate:g}"] = start, stall
        rows.append(row)
    return rows


# ---- decode steps -------------------------------------------------------------------------------------------
def steps_before_audio(first_chunk_units: int, text_span: int, speech_span: int) -> int:
    from bench.suite_measure import expected_steps_before_audio

    return sum(expected_steps_before_audio(first_chunk_units, text_span, speech_span))


def largest_first_chunk(text_span: int, speech_span: int, ratio: float = TARGET_STEPS_RATIO) -> int:
    """The largest first chunk whose steps are <= ratio x the reference's (0: none is)."""
    limit = ratio * steps_before_audio(REFERENCE_CHUNK_UNITS, text_span, speech_span)
    return max((n for n in range(1, REFERENCE_CHUNK_UNITS + 1) if steps_before_audio(n, text_span, speech_span)
                <= limit), default=0)


def steps_table(schedules: list[ChunkSchedule]) -> list[dict]:
    rows = []
    for ts, ss in INTERLEAVES:
        base = steps_before_audio(REFERENCE_CHUNK_UNITS, ts, ss)
        row = {"interleave": f"{ts}:{ss}", "reference": base, "largest_first_chunk": largest_first_chunk(ts, ss)}
        for n in sorted({s.chunk_units[0] for s in schedules}):
            row[f"first {n}"] = f"{steps_before_audio(n, ts, ss)} ({steps_before_audio(n, ts, ss) / base:.2f})"
        rows.append(row)
    return rows


# ---- CLI ----------------------------------------------------------------------------------------------------
def random_units(n: int, seed: int) -> list[int]:
    return torch.randint(0, UNIT_VOCAB_SIZE, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def print_rows(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    keys = list(rows[0])
    print(" | ".join(keys))
    for row in rows:
        print(" | ".join(f"{row[k]:.3f}" if isinstance(row[k], float) else str(row[k]) for k in keys))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--decoder", type=Path, help="glm-4-voice-decoder directory")
    source.add_argument("--make", choices=("tiny", "real"), help="a seeded random decoder of this size")
    parser.add_argument("--candidates", nargs="+", default=list(DEFAULT_CANDIDATES))
    parser.add_argument("--parts", default="seam,timing,steps")
    parser.add_argument("--units", type=int, default=120, help="units per utterance")
    parser.add_argument("--seeds", type=int, default=3, help="utterances (unit + noise seeds) for the seam part")
    parser.add_argument("--repeats", type=int, default=3, help="timing runs per candidate (median per call)")
    parser.add_argument("--rates", default=",".join(f"{r:g}" for r in DEFAULT_RATES), help="units/s")
    parser.add_argument("--vocoder-backend", choices=("torch", "onnx"), default="torch")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from core.voice.vocoder import Vocoder
    from models.tiny_decoder import make_tiny_decoder

    if args.threads:
        torch.set_num_threads(args.threads)
    schedules = [parse_candidate(c) for c in args.candidates]
    parts, result = args.parts.split(","), {"candidates": [label(s) for s in schedules]}
    print(f"decoder: {args.decoder or args.make + ' (random)'}; {args.units} units; backend {args.vocoder_backend}; "
          f"torch threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.decoder or make_tiny_decoder(Path(tmp) / "decoder", seed=0, size=args.make)
        dec = Vocoder.load(directory, backend=args.vocoder_backend)
        if "seam" in parts:
            result["seam"] = seam_table(dec, schedules, args.units, args.seeds)
            print_rows(f"seam error vs whole decode (mean of {args.seeds} utterances; *max: worst)", result["seam"])
        if "timing" in parts:
            rates = tuple(float(r) for r in args.rates.split(","))
            result["timing"] = timing_table(dec, schedules, args.units, args.repeats, rates)
            print_rows(f"first audio / stalls (prebuffer {PREBUFFER_S * 1000:g} ms, LLM waits for the first "
                       "chunk)", result["timing"])
    if "steps" in parts:
        result["steps"] = steps_table(schedules)
        print_rows("decode steps before first audio (ratio to the reference's 24-unit chunk)", result["steps"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
