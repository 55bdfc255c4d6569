"""Benchmark the streaming vocoder: real-time factor per chunk and time to the first audio chunk,
torch vs ONNX Runtime, the reference's fixed 24-unit schedule vs ours, on the same units in one run.

    python bench/bench_vocoder.py --make tiny            # a seeded random tiny decoder in a temp dir
    python bench/bench_vocoder.py --make real --units 120 --json out.json
    python bench/bench_vocoder.py --decoder DIR           # a real glm-4-voice-decoder directory

Units are pushed one at a time as if the LLM produced them instantly, so compute and RTF are pure decoder
figures; "1st audio" and "stall" replay the measured chunk times against units arriving at --unit-rate
units/s (first audio after the LLM starts, and total playback gap time).
RTF = compute seconds / seconds of audio emitted (below 1 keeps up with playback).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEDULE_NAMES = ("reference-24", "ours-smooth", "ours")
WARMUP_UNITS = 30


def _schedule(name: str):
    from core.voice.chunk_schedule import ChunkSchedule

    presets = {"reference-24": ChunkSchedule.reference, "ours-smooth": ChunkSchedule.smooth}
    return presets.get(name, ChunkSchedule)()


def simulate_playout(
    records,
    n_units: int,
    unit_rate: float,
    sample_rate_hz: int,
    prebuffer_s: float = 0.0,
    first_chunk_pause: bool = False,
) -> tuple[float, float]:
    """(first audio s, total stall s): units arrive at `unit_rate`/s, each chunk takes its measured compute.

    Chunk k starts when its last unit has arrived and the previous chunk is done (the flush waits for the last
    unit); playback starts once `prebuffer_s` of audio is ready (or the last chunk is; the engine's jitter
    buffer) and stalls whenever the next chunk is not ready in time. `first_chunk_pause`: the LLM stops while
    the vocoder computes, until the first audio is out (`EngineConfig.first_chunk_priority`), so the later
    units arrive that much later.
    """
    done_at, consumed, delay, ready = 0.0, 0, 0.0, []  # ready: (time, seconds of audio) per audio chunk
    for record in records:
        consumed = n_units if record.final else consumed + record.n_units
        compute = record.flow_s + record.hift_s
        done_at = max(consumed / unit_rate + delay, done_at) + compute
        if first_chunk_pause and not ready:
            delay += compute
        if record.samples:
            ready.append((done_at, record.samples / sample_rate_hz))
    from core.voice.schedule_plan import play_out

    out = play_out(ready, prebuffer_s)
    return out.start_s, out.total_stall_s


def run_one(dec, unit_ids: list[int], schedule, seed: int, unit_rate: float) -> dict:
    """Stream `unit_ids` one by one through `dec` (a Vocoder) with `schedule`; timings and RTFs."""
    from models.glm_constants import SAMPLE_RATE_HZ

    stream = dec.open_stream(schedule, torch.Generator().manual_seed(seed))
    started = time.perf_counter()
    first_audio_s = None
    chunks = []
    for unit in unit_ids:
        out = stream.push([unit])
        if out and first_audio_s is None:
            first_audio_s = time.perf_counter() - started
        chunks += out
    chunks += stream.flush()
    total_s = time.perf_counter() - started
    records = [r for r in stream.records if r.samples]
    rtf = [(r.flow_s + r.hift_s) / (r.samples / SAMPLE_RATE_HZ) for r in records]
    first = records[0]
    first_audio_s, stall_s = simulate_playout(stream.records, len(unit_ids), unit_rate, SAMPLE_RATE_HZ)
    return {
        "first_audio_at_rate_s": first_audio_s,
        "stall_at_rate_s": stall_s,
        "chunks": len(records),
        "first_chunk_units": first.n_units,
        "first_chunk_compute_s": first.flow_s + first.hift_s,
        "first_audio_compute_s": first_audio_s if first_audio_s is not None else total_s,
        "first_chunk_audio_s": first.samples / SAMPLE_RATE_HZ,
        "rtf_per_chunk": rtf,
        "rtf_mean": statistics.fmean(rtf),
        "rtf_max": max(rtf),
        "rtf_total": total_s / (sum(len(c) for c in chunks) / SAMPLE_RATE_HZ),
        "audio_s": sum(len(c) for c in chunks) / SAMPLE_RATE_HZ,
    }


def benchmark(
    decoder_dir: Path, n_units: int, seed: int, backends: list[str], unit_rate: float
) -> list[dict]:
    from core.voice.vocoder import Vocoder
    from models.glm_constants import UNIT_VOCAB_SIZE

    unit_ids = torch.randint(0, UNIT_VOCAB_SIZE, (n_units,), generator=torch.Generator().manual_seed(seed)).tolist()
    rows = []
    for backend in backends:
        started = time.perf_counter()
        dec = Vocoder.load(decoder_dir, backend=backend)
        load_s = time.perf_counter() - started
        dec.decode(unit_ids[:WARMUP_UNITS], torch.Generator().manual_seed(seed))  # warm-up
        for name in SCHEDULE_NAMES:
            row = {"backend": backend, "schedule": name, "load_s": load_s}
            row.update(run_one(dec, unit_ids, _schedule(name), seed, unit_rate))
            rows.append(row)
    return rows


def print_table(rows: list[dict], unit_rate: float) -> None:
    rate = format(unit_rate, "g")
    header = (
        f"{'backend':7} {'schedule':12} {'chunks':>6} {'1st units':>9} {'1st compute s':>13} "
        f"{'1st audio s@' + rate + 'u/s':>17} {'stall s@' + rate + 'u/s':>13} "
        f"{'RTF mean':>8} {'RTF max':>8} {'RTF total':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['backend']:7} {r['schedule']:12} {r['chunks']:6d} {r['first_chunk_units']:9d} "
            f"{r['first_chunk_compute_s']:13.3f} {r['first_audio_at_rate_s']:17.3f} "
            f"{r['stall_at_rate_s']:13.3f} "
            f"{r['rtf_mean']:8.3f} {r['rtf_max']:8.3f} {r['rtf_total']:9.3f}"
        )
    for r in rows:
        per_chunk = " ".join(f"{x:.2f}" for x in r["rtf_per_chunk"])
        print(f"RTF per chunk, {r['backend']}/{r['schedule']}: {per_chunk}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--decoder", type=Path, help="glm-4-voice-decoder directory")
    source.add_argument(
        "--make", choices=("tiny", "real"), help="benchmark a seeded random decoder of this size"
    )
    parser.add_argument("--units", type=int, default=120, help="units per utterance (default 120 = 9.6 s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vocoder-backends", default="torch,onnx", help="comma-separated")
    parser.add_argument(
        "--unit-rate", type=float, default=25.0, help="assumed LLM unit rate for 'first audio'"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch / ONNX Runtime intra-op threads")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if str(REPO_ROOT) not in sys.path:  # run as a script from anywhere
        sys.path.insert(0, str(REPO_ROOT))
    from models.tiny_decoder import make_tiny_decoder

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        decoder_dir = args.decoder or make_tiny_decoder(Path(tmp) / "decoder", seed=args.seed, size=args.make)
        rows = benchmark(decoder_dir, args.units, args.seed, args.vocoder_backends.split(","), args.unit_rate)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(
        f"decoder: {args.decoder or args.make + ' (random)'}; {args.units} units; "
        f"torch threads {torch.get_num_threads()}; device {device}"
    )
    print_table(rows, args.unit_rate)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
