"""Performance suite: ours vs the reference worker's algorithm, same checkpoint, same machine, one run.

    python bench/suite.py [--preset tiny|small|tiny-4:8|small-4:8] [--checkpoint DIR] [--decoder DIR]
                          [--device cpu|cuda]
                          [--repeats 3] [--turns 10] [--json suite.json]

Prints a table and writes JSON. Every ratio compares figures measured in this run (alternating repeats, medians).
The headline (end of speech -> first reply sample) is measured twice in the run, on the same sentences: with the
turn stage as before issue 32 (bench/turn_baselines.py) and with the app's defaults (app.assembly.turn_stage).
See docs/performance.md for the method and each figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.suite_engine import END_SILENCE_MS, engine_turns, engine_vad_turns, espeak_speech_16k  # noqa: E402
from bench.suite_headline import format_before_after, headline  # noqa: E402
from bench.suite_measure import (  # noqa: E402
    ReplyFigures,
    baseline_reply,
    expected_steps_before_audio,
    greedy,
    multi_turn,
    ours_reply,
)
from bench.turn_baselines import app_config  # noqa: E402
from core.compute import configure_cpu_threads  # noqa: E402
from core.engine.warmup import warm_up  # noqa: E402
from core.lm.conversation import Conversation  # noqa: E402
from core.lm.runner import OpenS2SRunner  # noqa: E402
from models.rates import SPEECH_RATE_HZ  # noqa: E402
from testing.synthetic import synthetic_clip  # noqa: E402

log = logging.getLogger(__name__)

CLIP_S = 3.0
TARGET_STEPS_RATIO = 1 / 3  # ours' decode steps before first audio <= 1/3 of the baseline's
TARGET_SPEEDUP = 3.0  # end of turn -> first audio at least 3x faster
TARGET_PREFILL_GROWTH = 1.5  # prefill at turn 10 <= 1.5x turn 1
TARGET_OVERHEAD = 0.10  # engine overhead beyond model + vocoder compute < 10 %
TARGET_HEADLINE = 2.5  # end of speech -> first reply sample, app defaults vs the reference algorithm
PRESETS = ("tiny", "small", "tiny-4:8", "small-4:8")


def make_models(preset: str, tmp: Path) -> tuple[Path, Path, str]:
    """(checkpoint dir, decoder dir, label) of a generated preset: tiny = TinySpec() + tiny decoder; small =
    TinySpec.small() + the tiny decoder (the released-size decoder does not keep up with real time on 2 cores)."""
    from models.tiny_checkpoint import TinySpec, make_tiny_checkpoint
    from models.tiny_decoder import make_tiny_decoder

    size, _, interleave = preset.partition("-")
    spec = TinySpec.small() if size == "small" else TinySpec()
    if interleave:  # the released OpenS2S config.json says "4:8"; the code default is 1:2
        spec = dataclasses.replace(spec, interleave_strategy=interleave)
    return (make_tiny_checkpoint(tmp / "ckpt", spec), make_tiny_decoder(tmp / "decoder", seed=0, size="tiny"),
            f"random {preset} checkpoint (interleave {spec.interleave_strategy}) + random tiny decoder")


def peak_memory_mb(device: torch.device) -> dict:
    """Process peak RSS (getrusage: KiB on Linux; psutil is not installed) and, on CUDA, max_memory_allocated."""
    out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.type == "cuda":
        out["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


def _reply_pairs(ours, base, decoder, clip, repeats: int, max_text: int, max_units: int) -> list[tuple]:
    """Alternating (ours, baseline) one-turn replies on fresh conversations with the same clip."""
    pairs = []
    for i in range(repeats):
        conv = Conversation()
        conv.add_user_audio(clip)
        if i % 2:
            b = baseline_reply(base, decoder, conv, max_text, max_units)
            o = ours_reply(ours, decoder, conv, max_text, max_units)
        else:
            o = ours_reply(ours, decoder, conv, max_text, max_units)
            b = baseline_reply(base, decoder, conv, max_text, max_units)
        pairs.append((o, b))
    return pairs


def _median(figs: list[ReplyFigures], attr: str) -> float:
    return statistics.median(getattr(f, attr) for f in figs)


def _reply_summary(figs: list[ReplyFigures]) -> dict:
    f0 = figs[0]
    return {
        "first_audio_ms": 1000 * _median(figs, "first_audio_s"),
        "text_steps_before_audio": f0.text_steps_before_audio,
        "unit_steps_before_audio": f0.unit_steps_before_audio,
        "steps_before_audio": f0.text_steps_before_audio + f0.unit_steps_before_audio,
        "first_chunk_units": f0.first_chunk_units,
        "llm_tokens_per_s": _median(figs, "llm_tokens_per_s"),
        "tts_tokens_per_s": _median(figs, "tts_tokens_per_s"),
        "vocoder_rtf": _median(figs, "vocoder_rtf"),
        "text_tokens": len(f0.text_ids), "tts_tokens": len(f0.tts_ids),
    }


def _multi_turn_summary(rows: list[dict]) -> dict:
    first, last = rows[0], rows[-1]
    out = {"turns": len(rows), "last_turn_kind": last["kind"]}
    for name in ("ours", "baseline"):
        out[f"{name}_prefill_first_ms"] = 1000 * first[f"{name}_prefill_s"]
        out[f"{name}_prefill_last_ms"] = 1000 * last[f"{name}_prefill_s"]
        out[f"{name}_growth"] = last[f"{name}_prefill_s"] / first[f"{name}_prefill_s"]
        same_kind = [r for r in rows if r["kind"] == first["kind"]][-1]  # last turn of turn 1's kind
        out[f"{name}_growth_same_kind"] = same_kind[f"{name}_prefill_s"] / first[f"{name}_prefill_s"]
    out["same_kind_turn"] = [r for r in rows if r["kind"] == first["kind"]][-1]["turn"]
    out["last_turn_speedup"] = last["baseline_prefill_s"] / last["ours_prefill_s"]
    out["last_turn_positions"] = last["n_positions"]
    out["last_turn_reused"] = {"ours": last["ours_reused_positions"], "baseline": last["baseline_reused_positions"]}
    return out


def measure(ckpt: Path, decoder_dir: Path, device: str = "cpu", repeats: int = 3, max_text: int = 24,
            max_units: int = 48, turns: int = 10, n_engine_turns: int = 3, clip_s: float = CLIP_S,
            warm: bool = False, headline_turns: int = 8, false_cuts: bool = True,
            speculate_at_ms: float | None = None) -> dict:
    """Every figure of the suite as one dict (see docs/performance.md). n_engine_turns=0 skips the engine path."""
    from core.voice.vocoder import Vocoder

    t0 = time.perf_counter()
    ours = OpenS2SRunner.load(ckpt, device=device)
    base = OpenS2SRunner(ours.ckpt, ours.device, ours.dtype, reuse_prefix=False)
    decoder = Vocoder.load(decoder_dir, backend="torch", device=device)
    load_s = time.perf_counter() - t0
    warm_up_s = warm_up(ours, decoder) if warm else 0.0  # core/engine/warmup.py, opt-in (--warm-up)
    clip = synthetic_clip(clip_s)
    cold = _reply_pairs(ours, base, decoder, clip, 1, max_text, max_units)[0]  # one-time costs: reported apart
    vad = _vad_engine(ours, decoder, greedy(max_text, max_units), n_engine_turns)
    if vad:  # the baseline replies to exactly the audio the VAD dispatched
        clip = vad["clip"]
    pairs = _reply_pairs(ours, base, decoder, clip, repeats, max_text, max_units)
    o_figs, b_figs = [p[0] for p in pairs], [p[1] for p in pairs]
    res = {"ours": _reply_summary(o_figs), "baseline": _reply_summary(b_figs), "load_s": load_s,
           "clip_s": clip.size / SPEECH_RATE_HZ,
           "clip": "espeak-ng speech as the VAD dispatched it" if vad else "synthetic",
           "warm_up_s": warm_up_s,
           "end_silence_ms": END_SILENCE_MS, "repeats": repeats, "device": str(ours.device),
           "threads": torch.get_num_threads(), "text_span": ours.text_span, "speech_span": ours.speech_span,
           "cold_first_audio_ms": {"ours": 1000 * cold[0].first_audio_s, "baseline": 1000 * cold[1].first_audio_s},
           "same_tokens": all(o.text_ids == b.text_ids and o.tts_ids == b.tts_ids for o, b in pairs)}
    res["expected_steps"] = {
        "ours": expected_steps_before_audio(res["ours"]["first_chunk_units"], ours.text_span, ours.speech_span),
        "baseline": expected_steps_before_audio(res["baseline"]["first_chunk_units"], ours.text_span,
                                                ours.speech_span)}
    if n_engine_turns:
        rows = engine_turns(ours, decoder, clip, greedy(max_text, max_units), n_engine_turns)
        res["engine"] = _medians_ms(rows)
    if vad:
        res["engine_vad"] = {k: vad[k] for k in ("speculative", "no_speculation", "speculate_after_ms")}
        if headline_turns:
            res["headline"] = headline(ours, decoder, greedy(max_text, max_units), headline_turns, false_cuts,
                                       speculate_at_ms)
    res["multi_turn"] = _multi_turn_summary(multi_turn(ours, base, clip, turns, max_text, max_units))
    res["memory"] = peak_memory_mb(ours.device)
    res["ratios"] = ratios(res)
    res["targets"] = targets(res)
    return res


def _medians_ms(rows: list[dict]) -> dict:
    keys = [k for k in rows[0] if k.endswith("_s")]
    return {k.removesuffix("_s") + "_ms": 1000 * statistics.median(r[k] for r in rows) for k in keys}


def _vad_engine(ours, decoder, sampling, turns: int) -> dict | None:
    """Spoken turns through the engine's VAD, with and without the speculative turn start (None without
    espeak-ng or with turns=0)."""
    speech = espeak_speech_16k() if turns else None
    if speech is None:
        return None
    spec_cfg, plain_cfg = vad_only_configs()
    spec = engine_vad_turns(ours, decoder, speech, sampling, turns, spec_cfg)
    plain = engine_vad_turns(ours, decoder, speech, sampling, turns, plain_cfg)
    return {"clip": spec[0]["samples"], "speculative": _medians_ms(spec), "no_speculation": _medians_ms(plain),
            "speculate_after_ms": spec_cfg.vad.speculate_after_ms}


def vad_only_configs():
    """(with, without the speculative start): the app's engine config with the semantic end of turn off (the VAD's
    silence ends turns), for the rows measured from the dispatch."""
    engine = app_config().engine
    vad_only = dataclasses.replace(engine, end_of_turn=dataclasses.replace(engine.end_of_turn, semantic=False))
    return vad_only, dataclasses.replace(vad_only, vad=dataclasses.replace(vad_only.vad, speculate_after_ms=None))


def _ours_first_sample_ms(res: dict) -> float:
    """Ours, turn dispatched -> first sample: the app's default path (VAD + speculative start) when measured."""
    if "engine_vad" in res:
        return res["engine_vad"]["speculative"]["dispatch_to_first_sample_ms"]
    return res["engine"]["dispatch_to_first_sample_ms"] if "engine" in res else res["ours"]["first_audio_ms"]


def ratios(res: dict) -> dict:
    o, b = res["ours"], res["baseline"]
    ours_first = _ours_first_sample_ms(res)
    ours_eos = (res["engine_vad"]["speculative"]["speech_end_to_first_sample_ms"] if "engine_vad" in res
                else res["end_silence_ms"] + ours_first)
    out = {
        "steps_before_audio": o["steps_before_audio"] / b["steps_before_audio"],
        "first_audio_speedup_compute": b["first_audio_ms"] / o["first_audio_ms"],
        "first_audio_speedup": b["first_audio_ms"] / ours_first,
        "end_of_speech_speedup": (res["end_silence_ms"] + b["first_audio_ms"]) / ours_eos,
        "llm_tokens_per_s": o["llm_tokens_per_s"] / b["llm_tokens_per_s"],
        "tts_tokens_per_s": o["tts_tokens_per_s"] / b["tts_tokens_per_s"],
        "vocoder_rtf": o["vocoder_rtf"] / b["vocoder_rtf"],
    }
    if "engine" in res:
        out["engine_overhead"] = res["engine"]["dispatch_to_first_sample_ms"] / o["first_audio_ms"] - 1
    if "headline" in res:
        out["headline_speedup"] = (res["end_silence_ms"] + b["first_audio_ms"]) / res["headline"][
            "speech_end_to_first_sample_ms"]
        out["headline_before_over_after"] = res["headline"]["before_over_after"]["speech_end_to_first_sample_ms"]
    return out


def targets(res: dict) -> dict:
    r, mt = res["ratios"], res["multi_turn"]
    growth = max(mt["ours_growth"], mt["ours_growth_same_kind"])
    out = {
        "steps_before_audio <= 1/3 baseline": (r["steps_before_audio"], r["steps_before_audio"] <= TARGET_STEPS_RATIO),
        "first audio >= 3x faster (dispatch)": (r["first_audio_speedup"], r["first_audio_speedup"] >= TARGET_SPEEDUP),
        "prefill turn 10 <= 1.5x turn 1": (growth, growth <= TARGET_PREFILL_GROWTH),
    }
    if "engine_overhead" in r:
        out["engine overhead < 10%"] = (r["engine_overhead"], r["engine_overhead"] < TARGET_OVERHEAD)
    if "headline_speedup" in r:
        out["end of speech -> first sample >= 2.5x reference"] = (r["headline_speedup"],
                                                                 r["headline_speedup"] >= TARGET_HEADLINE)
    return {k: {"value": v, "met": bool(m)} for k, (v, m) in out.items()}


def table_rows(res: dict) -> list[tuple[str, float, float, float]]:
    """(label, ours, baseline, ours/baseline or baseline/ours as labelled)."""
    o, b, r, mt = res["ours"], res["baseline"], res["ratios"], res["multi_turn"]
    rows = []
    if "headline" in res:
        h = res["headline"]
        rows += [
            (f"END OF SPEECH -> FIRST REPLY SAMPLE ms (app defaults / VAD {res['end_silence_ms']:g})",
             h["speech_end_to_first_sample_ms"],
             res["end_silence_ms"] + b["first_audio_ms"], r["headline_speedup"]),
            ("  end-of-turn decision after end of speech ms", h["decision_ms"], res["end_silence_ms"], math.nan),
            ("  paused sentences cut mid-sentence (audio model)", h.get("paused_false_cut_rate", math.nan),
             math.nan, math.nan),
            ("  speculation: replies computed and dropped per turn", h["replies_dropped_per_turn"], 0.0, math.nan),
            ("rows below: measured from the turn's dispatch", math.nan, math.nan, math.nan),
        ]
    rows += [
        ("dispatch -> first audio, compute ms (speedup)", o["first_audio_ms"], b["first_audio_ms"],
         r["first_audio_speedup_compute"]),
    ]
    if "engine" in res:
        e = res["engine"]
        rows.append(("dispatch -> first sample, engine, submitted ms", e["dispatch_to_first_sample_ms"],
                     b["first_audio_ms"], b["first_audio_ms"] / e["dispatch_to_first_sample_ms"]))
    if "engine_vad" in res:
        spec, plain = res["engine_vad"]["speculative"], res["engine_vad"]["no_speculation"]
        rows += [
            ("dispatch -> first sample, spoken, no speculation ms", plain["dispatch_to_first_sample_ms"],
             b["first_audio_ms"], b["first_audio_ms"] / plain["dispatch_to_first_sample_ms"]),
            ("dispatch -> first sample, spoken, speculative ms", spec["dispatch_to_first_sample_ms"],
             b["first_audio_ms"], r["first_audio_speedup"]),
            ("  speculative head start ms", spec["head_start_ms"], math.nan, math.nan),
            ("end of speech -> first sample ms (measured)", spec["speech_end_to_first_sample_ms"],
             res["end_silence_ms"] + b["first_audio_ms"], r["end_of_speech_speedup"]),
        ]
    else:
        rows.append(("end of speech -> first sample ms, incl. silence", res["end_silence_ms"] + _ours_first_sample_ms(
            res), res["end_silence_ms"] + b["first_audio_ms"], r["end_of_speech_speedup"]))
    rows += [
        ("decode steps before first audio (ours/base)", o["steps_before_audio"], b["steps_before_audio"],
         r["steps_before_audio"]),
        ("  text + unit steps", f"{o['text_steps_before_audio']}+{o['unit_steps_before_audio']}",
         f"{b['text_steps_before_audio']}+{b['unit_steps_before_audio']}", math.nan),
        ("LLM tokens/s (ours/base)", o["llm_tokens_per_s"], b["llm_tokens_per_s"], r["llm_tokens_per_s"]),
        ("TTS-LM tokens/s (ours/base)", o["tts_tokens_per_s"], b["tts_tokens_per_s"], r["tts_tokens_per_s"]),
        ("vocoder RTF (ours/base)", o["vocoder_rtf"], b["vocoder_rtf"], r["vocoder_rtf"]),
        ("prefill turn 1 ms", mt["ours_prefill_first_ms"], mt["baseline_prefill_first_ms"], math.nan),
        (f"prefill turn {mt['turns']} ms (base/ours)", mt["ours_prefill_last_ms"], mt["baseline_prefill_last_ms"],
         mt["last_turn_speedup"]),
        (f"prefill growth turn {mt['turns']}/1", mt["ours_growth"], mt["baseline_growth"], math.nan),
        (f"prefill growth turn {mt['same_kind_turn']}/1 (same kind)", mt["ours_growth_same_kind"],
         mt["baseline_growth_same_kind"], math.nan),
        ("cold first reply, first audio ms", res["cold_first_audio_ms"]["ours"],
         res["cold_first_audio_ms"]["baseline"], math.nan),
    ]
    if "engine" in res:
        rows.append(("engine overhead beyond compute (%)", 100 * r["engine_overhead"], math.nan, math.nan))
    return rows


def _fmt(v) -> str:
    if isinstance(v, str):
        return v
    return "" if isinstance(v, float) and math.isnan(v) else f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"


def format_table(res: dict) -> str:
    lines = [f"{'figure':<50} {'ours':>10} {'baseline':>10} {'ratio':>7}", "-" * 80]
    lines += [f"{label:<50} {_fmt(o):>10} {_fmt(b):>10} {_fmt(r):>7}" for label, o, b, r in table_rows(res)]
    lines.append(f"end-of-turn silence (VAD end_silence_ms, both): {res['end_silence_ms']:.0f} ms; same greedy "
                 f"tokens: {res['same_tokens']}; peak RSS {res['memory']['peak_rss_mb']:.0f} MB (process)")
    if "headline" in res:
        h = res["headline"]
        lines.append(f"headline: end of turn {h['end_of_turn']}; {h['duplex']} duplex (the app default); vocoder "
                     f"schedule (auto) {h['schedule']}, jitter buffer {h['prebuffer_ms']:.0f} ms")
    lines += [f"target {k}: {v['value']:.3g} -> {'MET' if v['met'] else 'NOT MET'}" for k, v in res["targets"].items()]
    if "headline" in res:
        lines += ["", *format_before_after(res["headline"], _fmt)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=PRESETS, default="small")
    ap.add_argument("--checkpoint", type=Path, help="an OpenS2S checkpoint (default: the preset's random one)")
    ap.add_argument("--decoder", type=Path, help="a glm-4-voice-decoder dir (default: the preset's random one)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, help="torch threads (default: the app's, core.compute.default_cpu_threads)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--turns", type=int, default=10)
    ap.add_argument("--engine-turns", type=int, default=3)
    ap.add_argument("--headline-turns", type=int, default=8,
                    help="spoken turns for the end of speech -> first sample headline, for each of the two turn "
                         "stages (before issue 32, the app's defaults; 0: skip)")
    ap.add_argument("--speculate-at-ms", type=float,
                    help="headline: the speculative reply's start in ms of silence, for the app's defaults "
                         "(default: theirs); 'before' keeps its own")
    ap.add_argument("--max-text-tokens", type=int, default=24)
    ap.add_argument("--max-units", type=int, default=48)
    ap.add_argument("--warm-up", action="store_true",
                    help="core.engine.warmup.warm_up() after load (the cold row shows it)")
    ap.add_argument("--json", type=Path, default=Path("suite.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    configure_cpu_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt, dec, label = make_models(args.preset, Path(tmp))
        res = measure(args.checkpoint or ckpt, args.decoder or dec, args.device, args.repeats, args.max_text_tokens,
                      args.max_units, args.turns, args.engine_turns, warm=args.warm_up,
                      headline_turns=args.headline_turns, speculate_at_ms=args.speculate_at_ms)
    res["models"] = label if not (args.checkpoint or args.decoder) else f"{args.checkpoint} + {args.decoder}"
    res["preset"] = args.preset
    print(f"models: {res['models']}; device {res['device']}, {res['threads']} threads; repeats {args.repeats}")
    print(format_table(res))
    args.json.write_text(json.dumps(res, indent=2, default=str))
    return 0 if res["same_tokens"] else 1


if __name__ == "__main__":
    sys.exit(main())
