"""Text end-of-utterance signals per traced call (bench/turn_traces.py) of the turn corpus.

- `oracle`: the words said by the call's time (a perfect, instant recognizer) through the lexical signal;
- `sphinx`: pocketsphinx's streaming hypothesis at the call's time (core/turns/partial_asr.py, the shipped
  English model), through the lexical signal. Hypotheses are computed once per clip and cached beside the corpus.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench.turn_traces import ClipTrace, Silence
from core.turns.text_eou import LexicalEndOfUtterance

log = logging.getLogger(__name__)
_LEXICAL = LexicalEndOfUtterance()


def oracle_words(clip, at_s: float) -> str:
    """The words of `clip` said by file time `at_s` (parts before each inner pause that has ended)."""
    said = [clip.parts[0]]
    for (_, end), part in zip(clip.pauses_s, clip.parts[1:], strict=False):
        if at_s >= end:
            said.append(part)
    return " ".join(said)


def oracle(clips):
    by_id = {c.id: c for c in clips}

    def text(clip_id: str, s: Silence) -> list[float | None]:
        clip = by_id[clip_id]
        return [_LEXICAL.prob(oracle_words(clip, c.at_s)) for c in s.checks]
    return text


_WORKER: dict = {}


def _hypotheses(item: tuple[str, str, list[float]]) -> tuple[str, list[str], float]:
    """(clip id, its hypothesis at each time, decode seconds)."""
    clip_id, wav, times = item
    import soundfile as sf

    from core.turns.partial_asr import SphinxPartialTranscript, StreamingTextSignal
    if "rec" not in _WORKER:
        _WORKER["rec"] = SphinxPartialTranscript()
    x, _ = sf.read(wav, dtype="float32")
    t0 = time.perf_counter()
    signal = StreamingTextSignal(x, _WORKER["rec"])  # the clip as one utterance, fed up to each time
    return clip_id, [signal.text(at_s) for at_s in times], time.perf_counter() - t0


def sphinx(clips, traces: dict[str, ClipTrace], corpus_dir: Path, workers: int = 2):
    """pocketsphinx's hypothesis at every traced call, cached in `corpus_dir`/text-sphinx-v1.jsonl."""
    path = Path(corpus_dir) / "text-sphinx-v1.jsonl"
    have: dict[str, dict[float, str]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            d = json.loads(line)
            have[d["id"]] = {round(t, 4): h for t, h in d["hyp"]}
    todo = []
    for c in clips:
        if c.id not in have:
            times = sorted({round(ch.at_s, 4) for s in traces[c.id].silences for ch in s.checks})
            todo.append((c.id, str(Path(corpus_dir) / c.file), times))
    if todo:
        log.info("pocketsphinx over %d clips", len(todo))
        times_of = {clip_id: times for clip_id, _, times in todo}
        with open(path, "a") as out, ProcessPoolExecutor(workers) as pool:
            for clip_id, hyps, _ in pool.map(_hypotheses, todo, chunksize=4):
                times = times_of[clip_id]
                out.write(json.dumps({"id": clip_id, "hyp": list(zip(times, hyps, strict=True))}) + "\n")
                have[clip_id] = dict(zip(times, hyps, strict=True))

    def text(clip_id: str, s: Silence) -> list[float | None]:
        return [_LEXICAL.prob(have[clip_id].get(round(c.at_s, 4), "")) for c in s.checks]
    return text
