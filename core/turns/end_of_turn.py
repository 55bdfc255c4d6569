"""End-of-turn policy: when does a silence end the user's turn, given the end-of-turn probabilities heard so far.

Pure and time-free (tests feed it numbers). During one silence the detector asks the audio model at checkpoints
(`first_check_ms`, then every `check_every_ms`); each answer updates the silence's evidence, the mean of the
probabilities so far (a single early spike does not commit; a probability that stays high does). The silence the
turn needs falls with the evidence: `max_silence_ms` at or below `hold_prob`, `first_check_ms` at or above
`commit_prob`, linear in between. A text signal (the partial transcript's end-of-utterance probability), when
there is one, is mixed in with weight `text_weight`.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.turns.config import EndOfTurnConfig


@dataclass(frozen=True)
class Check:
    """One model call during a silence."""

    silence_ms: float
    audio_prob: float
    text_prob: float | None
    evidence: float  # the course's summary after this call
    commit: bool


@dataclass(frozen=True)
class EndOfTurnCourse:
    """How the silence that ended a turn was read: every model call during it and the thresholds in force, so a
    report can say why the turn ended (the app's inspector). `policy`: "mean", "course", or "vad" (no end-of-turn
    model: the VAD's silence alone, `max_silence_ms` is then its end_silence_ms)."""

    policy: str
    checks: tuple[Check, ...]
    max_silence_ms: float  # the longest silence inside a turn
    required_ms: float  # the silence the final evidence required (max_silence_ms without evidence)
    commit: float | None = None  # evidence ("mean") or score ("course") that ends the turn at the earliest call
    hold: float | None = None  # "mean": evidence at or below which the longest silence is waited for
    first_check_ms: float | None = None  # the first model call (the earliest commit)


class SilencePolicy:
    """The evidence of one silence ("mean" policy); `reset()` when speech comes back."""

    needs_context = False

    def __init__(self, config: EndOfTurnConfig) -> None:
        self.cfg = config
        self.checks: list[Check] = []

    def reset(self) -> None:
        self.checks = []

    @property
    def evidence(self) -> float | None:
        return self.checks[-1].evidence if self.checks else None

    def combine(self, audio_prob: float, text_prob: float | None) -> float:
        if text_prob is None:
            return audio_prob
        w = self.cfg.text_weight
        return (1.0 - w) * audio_prob + w * text_prob

    def add(self, silence_ms: float, audio_prob: float, text_prob: float | None = None, context=None) -> Check:
        """Record a model answer at `silence_ms`; the returned check says whether the turn ends now."""
        probs = [c.audio_prob if c.text_prob is None else self.combine(c.audio_prob, c.text_prob)
                 for c in self.checks]
        probs.append(self.combine(audio_prob, text_prob))
        evidence = sum(probs) / len(probs)
        check = Check(silence_ms, audio_prob, text_prob, evidence, self.ends(silence_ms, evidence))
        self.checks.append(check)
        return check

    def ends(self, silence_ms: float, evidence: float | None = None) -> bool:
        """Does a silence this long end the turn, given the evidence so far (none yet: only max_silence_ms)?"""
        evidence = self.evidence if evidence is None else evidence
        if evidence is None:
            return silence_ms >= self.cfg.max_silence_ms
        return silence_ms >= self.cfg.required_silence_ms(evidence)

    def summary(self) -> EndOfTurnCourse:
        """This silence so far, with the thresholds it is read against."""
        cfg, evidence = self.cfg, self.evidence
        required = cfg.max_silence_ms if evidence is None else cfg.required_silence_ms(evidence)
        return EndOfTurnCourse("mean", tuple(self.checks), cfg.max_silence_ms, required, cfg.commit_prob,
                               cfg.hold_prob, cfg.first_check_ms)
