"""End-of-turn candidates replayed on recorded traces (bench/turn_traces.py), and the course classifier's fit.

A candidate is a function (silence, text probabilities per call) -> the call index at which the turn ends (None:
the silence runs on to `max_silence_ms`). `replay()` turns that into figures per clip: for a complete sentence
the decision's delay after the true end of speech, for a paused sentence whether any inner pause was cut.
Candidates:
- `vad(T)`: the silence alone (the VAD's end_silence_ms = T);
- `smart_now(p)`: the audio model's probability at this call >= p;
- `mean_rule(cfg)`: the rule before issue 32 (mean probability -> required silence, core.turns.end_of_turn);
- `course(weights, threshold, text)`: the classifier (core.turns.course), audio-only or with a text signal.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bench.turn_traces import ClipTrace, Silence
from core.turns.config import VAD_FRAME_MS, EndOfTurnConfig
from core.turns.course import (
    AUDIO_FEATURES,
    TEXT_FEATURES,
    CourseWeights,
    Logistic,
    features,
)
from core.turns.prosody import Prosody

MAX_SILENCE_MS = EndOfTurnConfig().max_silence_ms  # the longest silence the replayed policies wait
NOMINAL_COMPUTE_MS = 60.0  # one Smart Turn call on a quiet core (bench/bench_turn_corpus.py measures it)

# text probability per call of a silence (None: no transcript at that call)
TextFn = Callable[[str, Silence], list[float | None]]
Decider = Callable[[Silence, list[float | None]], float | None]  # -> decision ms after the silence's start


def no_text(_clip_id: str, s: Silence) -> list[float | None]:
    return [None] * len(s.checks)


def _first_commit(s: Silence, commit: list[bool], compute_ms: float) -> float | None:
    for c, ok in zip(s.checks, commit, strict=True):
        if ok:
            return c.silence_ms + compute_ms
    return MAX_SILENCE_MS if s.length_ms >= MAX_SILENCE_MS else None


def vad(end_silence_ms: float) -> Decider:
    def decide(s: Silence, _text) -> float | None:
        # frames are 32 ms; the VAD's own silence needs no model
        t = math.ceil(end_silence_ms / VAD_FRAME_MS) * VAD_FRAME_MS
        return t if s.length_ms >= t else None
    return decide


def smart_now(p: float, compute_ms: float = NOMINAL_COMPUTE_MS) -> Decider:
    def decide(s: Silence, _text) -> float | None:
        return _first_commit(s, [c.prob >= p for c in s.checks], compute_ms)
    return decide


def mean_rule(cfg: EndOfTurnConfig, compute_ms: float = NOMINAL_COMPUTE_MS) -> Decider:
    """The mean-probability rule on the traced calls (the rule may also end a silence between two calls)."""
    def decide(s: Silence, text: list[float | None]) -> float | None:
        probs: list[float] = []
        for i, (c, tp) in enumerate(zip(s.checks, text, strict=True)):
            probs.append(c.prob if tp is None else (1 - cfg.text_weight) * c.prob + cfg.text_weight * tp)
            need = max(cfg.required_silence_ms(sum(probs) / len(probs)), c.silence_ms + compute_ms)
            nxt = s.checks[i + 1].silence_ms if i + 1 < len(s.checks) else s.length_ms
            if need <= nxt or (i + 1 == len(s.checks) and s.length_ms >= need):
                return math.ceil(need / VAD_FRAME_MS) * VAD_FRAME_MS
        return None
    return decide


def course_features(s: Silence, text: list[float | None]) -> list[list[float]]:
    prosody = Prosody(*s.prosody)
    probs: list[float] = []
    out = []
    for c, tp in zip(s.checks, text, strict=True):
        probs.append(c.prob)
        out.append(features(probs, c.silence_ms, prosody, tp))
    return out


def course(weights: CourseWeights, threshold: float, compute_ms: float = NOMINAL_COMPUTE_MS) -> Decider:
    def decide(s: Silence, text: list[float | None]) -> float | None:
        xs = course_features(s, text)
        scores = [(weights.audio if tp is None else weights.audio_text).score(x) for x, tp in zip(xs, text,
                                                                                                   strict=True)]
        return _first_commit(s, [v >= threshold for v in scores], compute_ms)
    return decide


@dataclass
class ClipResult:
    clip_id: str
    kind: str  # "complete" | "paused"
    delay_ms: float | None  # complete: decision after the true end of speech (None: never decided in the trace)
    cut: bool  # a pause the speaker talked on after was taken for the end


def replay(decide: Decider, clips, traces: dict[str, ClipTrace], text: TextFn = no_text) -> list[ClipResult]:
    out = []
    for clip in clips:
        delay, cut = None, False
        for s in traces[clip.id].silences:
            t_ms = decide(s, text(clip.id, s))
            if s.final:
                if t_ms is not None:
                    delay = 1000 * (s.start_s - clip.speech_end_s) + t_ms
                break
            if t_ms is not None:
                cut = True  # the turn ended inside the sentence
        out.append(ClipResult(clip.id, clip.kind, delay, cut))
    return out


def summary(results: list[ClipResult]) -> dict:
    delays = [r.delay_ms if r.delay_ms is not None else MAX_SILENCE_MS for r in results
              if r.kind == "complete"]
    paused = [r for r in results if r.kind == "paused"]
    kept = sum(not r.cut for r in paused)
    return {"complete": len(delays),
            "median_ms": statistics.median(delays) if delays else math.nan,
            "p90_ms": float(np.percentile(delays, 90)) if delays else math.nan,
            "complete_cut": sum(r.cut for r in results if r.kind == "complete"),
            "paused": len(paused), "paused_kept": kept,
            "paused_kept_rate": kept / len(paused) if paused else math.nan}


def fit_logistic(x: np.ndarray, y: np.ndarray, names: tuple[str, ...], l2: float = 1e-3) -> Logistic:
    """Class-balanced L2 logistic regression (torch LBFGS) on standardized features. x [N, F], y [N] in {0, 1}."""
    import torch

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    xt = torch.tensor((x - mean) / scale, dtype=torch.float64)  # [N, F]
    yt = torch.tensor(y, dtype=torch.float64)  # [N]
    pos = float(yt.mean())
    wt = torch.where(yt > 0.5, 0.5 / pos, 0.5 / (1 - pos))  # each class weighs half
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def loss():
        opt.zero_grad()
        z = xt @ w + b
        val = (wt * torch.nn.functional.binary_cross_entropy_with_logits(z, yt, reduction="none")).mean() \
            + l2 * (w * w).sum()
        val.backward()
        return val

    opt.step(loss)
    return Logistic(names, tuple(map(float, mean)), tuple(map(float, scale)),
                    tuple(float(v) for v in w.detach()), float(b.detach()))


def training_rows(clips, traces: dict[str, ClipTrace], text: TextFn, with_text: bool,
                  drop: tuple[str, ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Every traced call of the clips as (features, ended?) rows; with_text keeps only calls with a transcript."""
    xs, ys = [], []
    for clip in clips:
        for s in traces[clip.id].silences:
            tps = text(clip.id, s)
            for x, tp in zip(course_features(s, tps), tps, strict=True):
                if with_text != (tp is not None):
                    continue
                xs.append(x)
                ys.append(1.0 if s.final else 0.0)
            if s.final:
                break
    names = TEXT_FEATURES if with_text else AUDIO_FEATURES
    x = np.asarray(xs, np.float64).reshape(-1, len(names))
    for name in drop:  # ablation: a feature held at a constant carries no information
        x[:, names.index(name)] = 0.0
    return x, np.asarray(ys)


def fit_course(clips, traces, text: TextFn, provenance: str, drop: tuple[str, ...] = ()) -> CourseWeights:
    xa, ya = training_rows(clips, traces, no_text, False, drop)
    audio = fit_logistic(xa, ya, AUDIO_FEATURES)
    xt, yt = training_rows(clips, traces, text, True, drop)
    audio_text = fit_logistic(xt, yt, TEXT_FEATURES) if len(yt) else audio_with_text_slot(audio)
    return CourseWeights(audio, audio_text, provenance)


def audio_with_text_slot(audio: Logistic) -> Logistic:
    """The audio model with a zero-weight text feature (when no transcript was available to fit one)."""
    return Logistic(TEXT_FEATURES, audio.mean + (0.5,), audio.scale + (1.0,), audio.coef + (0.0,), audio.intercept)
