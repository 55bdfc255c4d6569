"""Benchmark the speech tokenizer on CPU: units per second of compute and seconds of audio per second, tiny and
released-size random weights, batched vs one utterance at a time, on the same clips in one run.

    python bench/bench_speech_tokenizer.py                          # tiny and released, 4 clips of 3 s
    python bench/bench_speech_tokenizer.py --sizes tiny --clips 16 --clip-s 8 --json out.json
    python bench/bench_speech_tokenizer.py --tokenizer DIR         # a real glm-4-voice-tokenizer directory

Released-size weights are random (the file is not downloaded); speed does not depend on the values. Clips have
different lengths (clip_s x 0.6 .. 1.0) so that batching pays for its padding, as in real data. Timings include
feature extraction; the first call of each configuration is a warm-up and not counted.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

log = logging.getLogger(__name__)

RATE_HZ = 16000


def bench_clips(n: int, clip_s: float, seed: int = 0) -> list[np.ndarray]:
    """`n` speech-like clips of clip_s x 0.6 .. 1.0 seconds (swept tones, syllable envelope, noise)."""
    rng = np.random.default_rng(seed)
    clips = []
    for k in range(n):
        t = np.arange(int(clip_s * (0.6 + 0.4 * k / max(1, n - 1)) * RATE_HZ)) / RATE_HZ
        envelope = 0.2 + 0.8 * np.sin(2 * np.pi * (2.5 + 0.3 * k) * t) ** 2
        voice = 0.3 * np.sin(2 * np.pi * (120 + 20 * k + 50 * t) * t)
        clips.append((envelope * voice + 0.02 * rng.standard_normal(t.size)).astype(np.float32))
    return clips


def make_tokenizer(size: str, directory: str | None, batch_size: int):
    import torch
    from transformers import WhisperFeatureExtractor

    from core.speech_tokenizer import ExtractionConfig, SpeechTokenizer
    from models.speech_tokenizer import SpeechTokenizerConfig
    from models.tiny_speech_tokenizer import FEATURE_EXTRACTOR, SIZES, random_network, released_config

    config = ExtractionConfig(batch_size=batch_size)
    if directory:
        return SpeechTokenizer.load(directory, device="cpu", dtype="float32", config=config)
    network = random_network(SpeechTokenizerConfig.from_dict(released_config(SIZES[size])), seed=0)
    extractor = WhisperFeatureExtractor(**{k: v for k, v in FEATURE_EXTRACTOR.items() if "_type" not in k})
    return SpeechTokenizer(network, extractor, torch.device("cpu"), torch.float32, config)


def encode_all(tokenizer, clips: list[np.ndarray], batch_size: int) -> list[list[int]]:
    """All clips with `batch_size` segments per forward (one call per utterance when 1)."""
    from core.speech_tokenizer import ExtractionConfig

    tokenizer.config = ExtractionConfig(batch_size=batch_size, max_duration_s=tokenizer.config.max_duration_s)
    items = [(c, RATE_HZ) for c in clips]
    if batch_size == 1:
        return [tokenizer.encode(x, r) for x, r in items]
    return tokenizer.encode_batch(items)


def measure(tokenizer, clips: list[np.ndarray], batch_sizes: tuple[int, ...], repeats: int) -> list[dict]:
    """Best-of-`repeats` time per batch size; the sizes take turns within each repeat, so that a noisy (shared)
    machine slows them alike."""
    codes = {b: encode_all(tokenizer, clips, b) for b in batch_sizes}  # warm-up
    times: dict[int, list[float]] = {b: [] for b in batch_sizes}
    for _ in range(repeats):
        for b in batch_sizes:
            start = time.perf_counter()
            codes[b] = encode_all(tokenizer, clips, b)
            times[b].append(time.perf_counter() - start)
    audio_s = sum(c.size for c in clips) / RATE_HZ
    rows = []
    for b in batch_sizes:
        seconds, n_units = min(times[b]), sum(len(c) for c in codes[b])
        rows.append({
            "batch_size": b,
            "clips": len(clips),
            "audio_s": round(audio_s, 2),
            "units": n_units,
            "compute_s": round(seconds, 4),
            "units_per_s": round(n_units / seconds, 1),
            "audio_s_per_s": round(audio_s / seconds, 2),
            "same_codes_as_batched": codes[b] == codes[batch_sizes[0]],
        })
    return rows


def run(sizes: list[str], directory: str | None, n_clips: int, clip_s: float, released_clip_s: float,
        repeats: int) -> list[dict]:
    rows = []
    for size in sizes:
        clips = bench_clips(n_clips, released_clip_s if size == "released" else clip_s)
        tokenizer = make_tokenizer(size, directory, n_clips)
        batched, single = measure(tokenizer, clips, (n_clips, 1), repeats)
        single["batched_speedup"] = round(single["compute_s"] / batched["compute_s"], 2)
        for row in (batched, single):
            row["size"] = "checkpoint" if directory else size
            rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    head = f"{'weights':<10} {'batch':>5} {'audio s':>8} {'units':>6} {'compute s':>10} {'units/s':>9} " \
           f"{'x realtime':>10} {'same codes':>10}"
    lines = [head]
    for r in rows:
        lines.append(f"{r['size']:<10} {r['batch_size']:>5} {r['audio_s']:>8} {r['units']:>6} {r['compute_s']:>10} "
                     f"{r['units_per_s']:>9} {r['audio_s_per_s']:>10} {str(r['same_codes_as_batched']):>10}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="tiny,released", help="comma list of tiny, released (random weights)")
    parser.add_argument("--tokenizer", metavar="DIR", help="a real tokenizer directory instead of random weights")
    parser.add_argument("--clips", type=int, default=4, help="utterances per run (default 4)")
    parser.add_argument("--clip-s", type=float, default=3.0, help="longest clip for tiny weights (default 3 s)")
    parser.add_argument("--released-clip-s", type=float, default=3.0, help="longest clip for released size")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per configuration; the best counts")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: cores - 1)")
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from models.weights import NOISY_IMPORT_LOGGERS

    for name in NOISY_IMPORT_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    from core.compute import configure_cpu_threads

    threads = configure_cpu_threads(args.threads)
    sizes = ["checkpoint"] if args.tokenizer else [s.strip() for s in args.sizes.split(",") if s.strip()]
    rows = run(sizes, args.tokenizer, args.clips, args.clip_s, args.released_clip_s, args.repeats)
    print(f"CPU, float32, {threads} torch thread(s)")
    print(format_table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"threads": threads, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
