"""The pocketsphinx partial transcript (core/turns/partial_asr.py) on synthetic speech: word error rate of the final
hypothesis, the lexical text signal at the inner pause of paused sentences and 200 ms after complete ones (against
the oracle words), the decoder's cost per 32 ms frame, and the end-of-turn figures (bench/bench_turns.py's) with
the pocketsphinx transcript instead of the oracle one.

    python bench/bench_partial_asr.py [--voices espeak,flite] [--no-detector] [--json out.json]

espeak-ng clips are bench/turn_sets.py's; flite clips (`flite -voice slt`) say the same sentences, a paused one as
its two parts with the same silence between them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import turn_sets  # noqa: E402
from core.turns.partial_asr import SphinxPartialTranscript, StreamingTextSignal  # noqa: E402
from core.turns.text_eou import FINISHED_P, UNFINISHED_P, LexicalEndOfUtterance  # noqa: E402

AFTER_S = 0.2  # the signal is read this long into a pause (the detector's first check is at 160 ms)
TAIL_S = 0.5  # silence after the clip for the final hypothesis


def label(p: float | None) -> str:
    if p is None:
        return "none"
    return "finished" if p >= FINISHED_P else "unfinished" if p <= UNFINISHED_P else "undecided"


def words(text: str) -> list[str]:
    return [w.strip(".,?!").lower() for w in text.split()]


def wer_counts(ref: list[str], hyp: list[str]) -> int:
    """Edit distance in words (substitutions, deletions, insertions)."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def flite(text: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.wav"
        subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(path)], check=True, capture_output=True)
        x, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return soxr.resample(x[:, 0], rate, turn_sets.RATE_HZ).astype(np.float32)


def flite_clips() -> tuple[list[turn_sets.Clip], list[turn_sets.Clip]]:
    complete = [turn_sets.Clip(flite(t), (t,), ()) for t in turn_sets.COMPLETE]
    paused = []
    for first, pause_ms, rest in turn_sets.PAUSED:
        a, b = flite(first), flite(rest)
        gap = np.zeros(int(pause_ms * turn_sets.RATE_HZ / 1000), np.float32)
        x = np.concatenate([a, gap, b])
        # flite's own leading/trailing silence sits inside the gap: measure the pause as espeak's clips do
        paused.append(turn_sets.Clip(x, (first, f"{first} {rest}"), turn_sets._pauses(x, 1)))
    return complete, paused


def speech_end_s(x: np.ndarray) -> float:
    loud = np.flatnonzero(np.abs(x) >= 1e-3)
    return (loud[-1] + 1) / turn_sets.RATE_HZ


def transcript_figures(rec: SphinxPartialTranscript, complete, paused) -> dict:
    lexical = LexicalEndOfUtterance()
    errors = ref_words = 0
    rows = []
    end_labels, pause_labels, pause_agree, pause_oracle_unfinished, pause_caught = [], [], 0, 0, 0
    for clip in complete:
        sig = StreamingTextSignal(np.pad(clip.samples, (0, int(TAIL_S * turn_sets.RATE_HZ))), rec)
        at = speech_end_s(clip.samples) + AFTER_S
        p = sig(at)
        final = sig.text(len(clip.samples) / turn_sets.RATE_HZ + TAIL_S)
        errors += wer_counts(words(clip.texts[0]), final.split())
        ref_words += len(words(clip.texts[0]))
        end_labels.append(label(p))
        rows.append({"kind": "complete", "ref": clip.texts[0], "at_end": sig.texts[0][1], "signal": label(p),
                     "oracle": label(lexical.prob(clip.texts[0])), "final": final})
    for clip in paused:
        sig = StreamingTextSignal(np.pad(clip.samples, (0, int(TAIL_S * turn_sets.RATE_HZ))), rec)
        at = clip.pauses_s[0][0] + AFTER_S
        p, oracle = sig(at), lexical.prob(clip.texts[0])
        final = sig.text(len(clip.samples) / turn_sets.RATE_HZ + TAIL_S)
        errors += wer_counts(words(clip.texts[1]), final.split())
        ref_words += len(words(clip.texts[1]))
        pause_labels.append(label(p))
        pause_agree += label(p) == label(oracle)
        pause_oracle_unfinished += label(oracle) == "unfinished"
        pause_caught += label(oracle) == "unfinished" and label(p) == "unfinished"
        rows.append({"kind": "paused", "ref": clip.texts[0], "at_pause": sig.texts[0][1], "signal": label(p),
                     "oracle": label(oracle), "final": final})
    count = lambda labels, name: sum(lab == name for lab in labels)  # noqa: E731
    return {
        "wer": errors / ref_words, "ref_words": ref_words,
        "complete_at_200ms": {k: count(end_labels, k) for k in ("finished", "undecided", "unfinished", "none")},
        "paused_at_200ms": {k: count(pause_labels, k) for k in ("finished", "undecided", "unfinished", "none")},
        "paused_agree_with_oracle": pause_agree, "paused_oracle_unfinished": pause_oracle_unfinished,
        "paused_unfinished_caught": pause_caught, "rows": rows,
    }


def cost_figures(rec: SphinxPartialTranscript, clips) -> dict:
    """Per-frame decode time and text() time over whole clips, text read after every frame (the worst case)."""
    per_frame, per_text = [], []
    for clip in clips:
        rec.start()
        sig = StreamingTextSignal(clip.samples, rec)
        n = len(clip.samples) // 512
        rec.compute_s = rec.text_s = 0.0
        rec.frames = rec.text_calls = 0
        for k in range(n):
            sig.text((k + 1) * 0.032)
        per_frame.append(1000 * rec.compute_s / rec.frames)
        per_text.append(1000 * rec.text_s / rec.text_calls)
    return {"feed_ms_per_frame_median": statistics.median(per_frame), "feed_ms_per_frame_max": max(per_frame),
            "text_ms_median": statistics.median(per_text), "text_ms_max": max(per_text),
            "realtime_share_one_core": (statistics.median(per_frame) + statistics.median(per_text)) / 32.0}


def oracle_signal(clip, lexical):
    words = turn_sets.oracle_transcript(clip)
    return lambda at_s: lexical.prob(words(at_s))


def detector_figures(rec, complete, paused, count_compute: bool) -> dict:
    """bench_turns' figures (Smart Turn + the default policy, simulated real time) with no text signal, with the
    oracle words and with the pocketsphinx transcript."""
    from core.engine.config import EngineConfig
    from core.turns.offline import simulate_turns
    from core.turns.smart_turn import load_smart_turn
    from core.turns.vad import SileroVad

    scorer, status = load_smart_turn()
    if scorer is None:
        return {"status": status}
    vad, cfg, lexical = SileroVad(), EngineConfig(), LexicalEndOfUtterance()
    sources = {
        "audio": lambda clip: None,
        "oracle_text": lambda clip: oracle_signal(clip, lexical),
        "sphinx_text": lambda clip: StreamingTextSignal(clip.samples, rec, SileroVad(), cfg.vad,
                                                        cfg.end_of_turn.max_silence_ms),
        "sphinx_unfinished_only": lambda clip: StreamingTextSignal(clip.samples, rec, SileroVad(), cfg.vad,
                                                                   cfg.end_of_turn.max_silence_ms,
                                                                   unfinished_only=True),
    }
    out = {}
    for name, text_for in sources.items():
        delays, cuts, kept = [], 0, 0
        for clip in complete:
            turns = simulate_turns(clip.samples, cfg, vad, scorer, text_for(clip), count_compute=count_compute)
            delays.append(round(1000 * (turns[-1].decided_s - turns[-1].end_s)))
            cuts += len(turns) - 1 + sum(len(t.early_commits_s) for t in turns)
        for clip in paused:
            turns = simulate_turns(clip.samples, cfg, vad, scorer, text_for(clip), count_compute=count_compute)
            kept += len(turns) == 1 and not turns[0].early_commits_s
        out[name] = {"complete_decision_ms_median": statistics.median(delays), "complete_decision_ms": delays,
                     "complete_cuts": cuts, "paused_one_turn": kept, "paused_total": len(paused)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voices", default="espeak,flite")
    ap.add_argument("--no-detector", action="store_true", help="skip the Smart Turn end-of-turn figures")
    ap.add_argument("--count-compute", action="store_true", help="decisions include this machine's measured "
                    "compute (default: the policy alone, as on an infinitely fast machine: reproducible)")
    ap.add_argument("--fresh-cmn", action="store_true", help="every clip from the initial cepstral mean (as a "
                    "first turn; default: carried from clip to clip, as live)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rec = SphinxPartialTranscript(carry_cmn=not args.fresh_cmn)
    results = {"pocketsphinx": rec.version}
    for voice in args.voices.split(","):
        if voice == "espeak":
            complete = [turn_sets.complete_clip(t) for t in turn_sets.COMPLETE]
            paused = [turn_sets.paused_clip(*p) for p in turn_sets.PAUSED]
        elif voice == "flite" and shutil.which("flite"):
            complete, paused = flite_clips()
        else:
            continue
        res = transcript_figures(rec, complete, paused)
        res["cost"] = cost_figures(rec, complete + paused)
        if not args.no_detector:
            res["detector"] = detector_figures(rec, complete, paused, args.count_compute)
        results[voice] = res
        summary = {k: v for k, v in res.items() if k != "rows"}
        print(voice, json.dumps(summary, indent=1))
        for row in res["rows"]:
            print(f"  {row['kind']:8s} {row['signal']:10s} (oracle {row['oracle']:10s}) "
                  f"{row.get('at_pause', row.get('at_end'))!r:45s} final {row['final']!r}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
