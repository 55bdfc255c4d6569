"""The end-of-turn model's course over every pause of the turn corpus, recorded once, replayed by any policy.

For each clip the capture side's pieces run as live (silero-vad per 32 ms frame, the VAD's turn state machine);
during each silence inside a turn the Smart Turn model is called at `CHECKS_MS` of silence (the product's
schedule: the first call at 96 ms, then one per 96 ms), and the prosody before the pause is measured at the first
call. A silence is `final` when the clip's clean speech is over (the corpus' ground truth), else `inner` (a pause
the speaker talks on after: ending the turn there is a false cut).

A policy replayed on these traces decides at the same calls as the live detector (core/turns/semantic.py) and
its decision time is the call's silence plus a charged compute. Up to its first commit a replay is exact
(tests/bench/test_turn_corpus_bench.py); after an early commit the live detector starts a new turn (the model
then hears only the continuation) while the trace goes on with the whole turn, so what a replay decides after a
cut is approximate (the clip already counts as cut); `bench/bench_turn_corpus.py` checks the
replay against the real detector (`simulate_turns`) on the held-out split.

    python bench/turn_traces.py [--split train|heldout|all] [--workers 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.turns.config import VAD_FRAME, VAD_FRAME_MS, VAD_RATE_HZ, EndOfTurnConfig, VadConfig  # noqa: E402
from core.turns.prosody import prosody_before_pause  # noqa: E402
from core.turns.vad import Turn, TurnDetector, frames_to_s  # noqa: E402

log = logging.getLogger(__name__)

_EOT = EndOfTurnConfig()  # the app's schedule: the traced calls are the live detector's
FIRST_CHECK_MS = _EOT.first_check_ms
CHECK_EVERY_MS = _EOT.check_every_ms
TRACE_MAX_MS = _EOT.max_silence_ms + 48.0  # the longest silence traced: just past the policies' longest wait
CHECKS_MS = tuple(FIRST_CHECK_MS + CHECK_EVERY_MS * k for k in range(int((TRACE_MAX_MS - FIRST_CHECK_MS)
                                                                          // CHECK_EVERY_MS) + 1))
FINAL_MARGIN_S = 0.25  # a silence starting later than speech_end_s - this is the end of the turn
FORMAT = 1


@dataclass
class TracedCheck:
    silence_ms: float
    prob: float  # Smart Turn P(complete)
    compute_ms: float  # the call's wall time (features + model)
    at_s: float  # file time of the frame the call ran on


@dataclass
class Silence:
    start_s: float  # VAD end of speech (the silence's first frame)
    final: bool  # the speaker has finished (ground truth)
    speech_ms: float  # voiced time of the turn before this silence
    prosody: list[float]  # core.turns.prosody.Prosody.as_list()
    prosody_ms: float
    length_ms: float  # how long the silence lasted (TRACE_MAX_MS when it reached the end of the trace)
    checks: list[TracedCheck] = field(default_factory=list)


@dataclass
class ClipTrace:
    clip_id: str
    silences: list[Silence]


def trace_clip(samples_16k: np.ndarray, speech_end_s: float, vad, scorer, clip_id: str = "") -> ClipTrace:
    """Every silence of every turn in the clip, with the model's course over it."""
    x = np.asarray(samples_16k, np.float32).reshape(-1)
    need = int((speech_end_s + TRACE_MAX_MS / 1000 + 0.5) * VAD_RATE_HZ)
    if x.size < need:
        x = np.pad(x, (0, need - x.size))
    vad_cfg = dataclasses.replace(VadConfig(), end_silence_ms=TRACE_MAX_MS + VAD_FRAME_MS, speculate_after_ms=None)
    det = TurnDetector(vad_cfg)
    vad.reset()
    silences: list[Silence] = []
    open_: Silence | None = None
    for k in range(x.size // VAD_FRAME):
        frame = x[k * VAD_FRAME:(k + 1) * VAD_FRAME]
        events = det.feed(frame, vad.prob(frame))
        silence_ms = det.silence_frames * VAD_FRAME_MS if det.in_speech else 0.0
        if open_ is not None:
            if any(isinstance(e, Turn) for e in events):
                open_.length_ms, open_ = TRACE_MAX_MS, None  # the silence outlasted the trace
            elif silence_ms == 0.0:
                open_ = None  # speech came back
            else:
                open_.length_ms = silence_ms
        if silence_ms not in CHECKS_MS or det.speech_ms < vad_cfg.min_speech_ms:
            continue
        samples = det.samples_so_far()
        if open_ is None:
            start_s = frames_to_s(det.frame_index) - silence_ms / 1000
            if start_s > speech_end_s + 0.5:
                continue  # noise heard as speech after the speaker finished: not a pause of this clip
            t0 = time.perf_counter()
            pros = prosody_before_pause(samples, det.silence_frames * VAD_FRAME)
            open_ = Silence(start_s, start_s > speech_end_s - FINAL_MARGIN_S, det.speech_ms, pros.as_list(),
                            1000 * (time.perf_counter() - t0), silence_ms)
            silences.append(open_)
        score = scorer.score(samples)
        open_.checks.append(TracedCheck(silence_ms, score.prob, 1000 * score.compute_s, frames_to_s(det.frame_index)))
    return ClipTrace(clip_id, silences)


def refresh_prosody(traces: dict[str, ClipTrace], clips) -> None:
    """Recompute every silence's prosody with today's core.turns.prosody from the clip's audio (the Smart Turn
    course stays as traced): the speech before the silence plus the first call's silence, as the live detector
    measures it at its first call."""
    for clip in clips:
        x = None
        for s in traces[clip.id].silences:
            if not s.checks:
                continue
            x = clip.samples() if x is None else x
            first = s.checks[0].silence_ms
            end = int(round((s.start_s + first / 1000) * VAD_RATE_HZ))
            begin = max(0, end - int(3.5 * VAD_RATE_HZ))
            s.prosody = prosody_before_pause(x[begin:end], int(round(first / 1000 * VAD_RATE_HZ))).as_list()


def _to_json(t: ClipTrace) -> str:
    return json.dumps(dataclasses.asdict(t), separators=(",", ":"))


def _from_json(line: str) -> ClipTrace:
    d = json.loads(line)
    sil = [Silence(**{**s, "checks": [TracedCheck(**c) for c in s["checks"]]}) for s in d["silences"]]
    return ClipTrace(d["clip_id"], sil)


def traces_path(corpus_dir: Path, scorer_path: Path) -> Path:
    digest = hashlib.sha256(scorer_path.read_bytes()).hexdigest()[:12]
    schedule = f"{FIRST_CHECK_MS:g}+{CHECK_EVERY_MS:g}-{TRACE_MAX_MS:g}ms"  # the calls traced
    return corpus_dir / f"traces-v{FORMAT}-{digest}-{schedule}.jsonl"


_WORKER: dict = {}


def _work(item: tuple[str, str, float]) -> str:
    clip_id, wav, speech_end_s = item
    if not _WORKER:
        import soundfile as sf

        from core.turns.smart_turn import SmartTurnModel
        from core.turns.vad import SileroVad

        _WORKER.update(vad=SileroVad(), scorer=SmartTurnModel(), sf=sf)
    x, rate = _WORKER["sf"].read(wav, dtype="float32")
    assert rate == VAD_RATE_HZ, f"{wav}: {rate} Hz"
    return _to_json(trace_clip(x, speech_end_s, _WORKER["vad"], _WORKER["scorer"], clip_id))


def load_traces(clips, corpus_dir: Path, workers: int = 2) -> dict[str, ClipTrace]:
    """Traces of `clips` (testing.turn_corpus CorpusClip), computed once and cached beside the corpus."""
    from core.turns.smart_turn import find_model_file

    path = traces_path(Path(corpus_dir), find_model_file())
    have: dict[str, ClipTrace] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                t = _from_json(line)
                have[t.clip_id] = t
    todo = [(c.id, str(Path(corpus_dir) / c.file), c.speech_end_s) for c in clips if c.id not in have]
    if todo:
        log.info("tracing %d clips with %d workers", len(todo), workers)
        t0 = time.perf_counter()
        with open(path, "a") as out, ProcessPoolExecutor(workers) as pool:
            for n, line in enumerate(pool.map(_work, todo, chunksize=4), 1):
                out.write(line + "\n")
                out.flush()
                t = _from_json(line)
                have[t.clip_id] = t
                if n % 50 == 0:
                    log.info("traced %d/%d (%.0f s)", n, len(todo), time.perf_counter() - t0)
    return {c.id: have[c.id] for c in clips}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="all", choices=("train", "heldout", "all"))
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from testing.turn_corpus import default_folder as corpus_dir
    from testing.turn_corpus import load_corpus

    clips = [c for c in load_corpus() if args.split in ("all", c.split)]
    traces = load_traces(clips, corpus_dir(), args.workers)
    n = sum(len(s.checks) for t in traces.values() for s in t.silences)
    print(f"{len(traces)} clips, {n} model calls traced")
    return 0


if __name__ == "__main__":
    sys.exit(main())
