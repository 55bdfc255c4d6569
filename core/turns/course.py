"""The "course" end-of-turn policy: a classifier over the whole course of a pause.

At each model call during a silence the features are: the audio model's probability now, and its mean, minimum,
maximum and first value over this silence; how long the silence has lasted; the prosody of the speech before the
pause (core.turns.prosody); and, when a partial transcript exists, the text
end-of-utterance probability. A logistic regression (weights in `assets/end_of_turn/course.json`, fitted on the
training split of the project's turn corpus by `bench/bench_turn_corpus.py fit`) turns them into a score; the
turn ends at the first call whose score reaches the operating point (`EndOfTurnConfig.commit_score`, or
`full_duplex_commit_score` when the user may talk over the reply), or at `max_silence_ms`.

Two weight sets: "audio" (no transcript) and "audio_text" (a transcript exists at this call).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

from core.turns.end_of_turn import Check, EndOfTurnCourse
from core.turns.prosody import NAMES as PROSODY_NAMES
from core.turns.prosody import Prosody
from models.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2] / "assets" / "end_of_turn" / "course.json"
AUDIO_FEATURES = ("p_now", "p_mean", "p_min", "p_max", "p_first", "silence_s") + PROSODY_NAMES
TEXT_FEATURES = AUDIO_FEATURES + ("p_text",)
FORMAT = 1


@dataclass(frozen=True)
class Logistic:
    """score = sigmoid(coef . (x - mean) / scale + intercept)."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def score(self, x: list[float]) -> float:
        z = self.intercept + sum(c * (v - m) / s for c, v, m, s in zip(self.coef, x, self.mean, self.scale,
                                                                       strict=True))
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def as_dict(self) -> dict:
        return {"features": list(self.features), "mean": list(self.mean), "scale": list(self.scale),
                "coef": list(self.coef), "intercept": self.intercept}

    @classmethod
    def from_dict(cls, d: dict, expected: tuple[str, ...]) -> Logistic:
        if tuple(d.get("features", ())) != expected:
            raise ValueError(f"features {d.get('features')} do not match this version's {list(expected)}")
        n = len(expected)
        vecs = [tuple(float(v) for v in d[k]) for k in ("mean", "scale", "coef")]
        if any(len(v) != n for v in vecs) or any(s <= 0 for s in vecs[1]):
            raise ValueError("mean, scale and coef need one value per feature (scale > 0)")
        values = [*vecs[0], *vecs[1], *vecs[2], float(d["intercept"])]
        if not all(math.isfinite(v) for v in values):
            raise ValueError("a weight is not finite")
        return cls(expected, *vecs, float(d["intercept"]))


@dataclass(frozen=True)
class CourseWeights:
    audio: Logistic
    audio_text: Logistic
    provenance: str  # what it was fitted on

    def save(self, path: Path) -> None:
        from core.files import write_text_atomic

        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps({"format": FORMAT, "provenance": self.provenance,
                                            "audio": self.audio.as_dict(),
                                            "audio_text": self.audio_text.as_dict()}, indent=1) + "\n")


def load_weights(path: str | Path | None = None) -> CourseWeights:
    """The classifier's weights (default: the shipped asset); UserError naming the file when unusable."""
    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        if d.get("format") != FORMAT:
            raise ValueError(f"format {d.get('format')!r}, expected {FORMAT}")
        return CourseWeights(Logistic.from_dict(d["audio"], AUDIO_FEATURES),
                             Logistic.from_dict(d["audio_text"], TEXT_FEATURES), str(d.get("provenance", "")))
    except (OSError, ValueError, KeyError, TypeError) as err:
        shipped = DEFAULT_WEIGHTS.relative_to(DEFAULT_WEIGHTS.parents[2])
        raise UserError(f"end-of-turn weights {path} are unusable: {err} (the app ships {shipped}; reinstall to "
                        f"restore it)") from None


def features(probs: list[float], silence_ms: float, prosody: Prosody, text_prob: float | None) -> list[float]:
    """The feature vector of one call (TEXT_FEATURES' order; the text entry only when text_prob is given)."""
    x = [probs[-1], sum(probs) / len(probs), min(probs), max(probs), probs[0], silence_ms / 1000.0,
         *prosody.as_list()]
    return x + [text_prob] if text_prob is not None else x


class CoursePolicy:
    """The course of one silence; `reset()` when speech comes back. Same interface as SilencePolicy."""

    needs_context = True

    def __init__(self, weights: CourseWeights, commit_score: float, max_silence_ms: float) -> None:
        self._w, self._threshold, self._max_silence_ms = weights, commit_score, max_silence_ms
        self.checks: list[Check] = []
        self._probs: list[float] = []

    def reset(self) -> None:
        self.checks, self._probs = [], []

    @property
    def evidence(self) -> float | None:
        return self.checks[-1].evidence if self.checks else None

    def add(self, silence_ms: float, audio_prob: float, text_prob: float | None = None,
            context: Prosody | None = None) -> Check:
        """`context`: the prosody of the speech before this silence (measured once per silence)."""
        if context is None:
            raise ValueError("the course policy needs the silence's context (the prosody before it)")
        self._probs.append(audio_prob)
        x = features(self._probs, silence_ms, context, text_prob)
        model = self._w.audio if text_prob is None else self._w.audio_text
        score = model.score(x)
        check = Check(silence_ms, audio_prob, text_prob, score,
                      score >= self._threshold or silence_ms >= self._max_silence_ms)
        self.checks.append(check)
        return check

    def ends(self, silence_ms: float, evidence: float | None = None) -> bool:
        if silence_ms >= self._max_silence_ms:
            return True
        return bool(self.checks) and self.checks[-1].commit

    def summary(self) -> EndOfTurnCourse:
        """This silence so far, with the operating point it is read against."""
        last = self.checks[-1] if self.checks else None
        required = last.silence_ms if last is not None and last.commit else self._max_silence_ms
        return EndOfTurnCourse("course", tuple(self.checks), self._max_silence_ms, required, self._threshold)
