"""Semantic end of turn: the VAD's `TurnDetector` plus an end-of-turn model asked during each silence.

`SemanticTurnDetector` has the `TurnDetector` interface (`feed`, `skip`, `reset`, `in_speech`, `speech_ms`,
`frame_index`) and the same events. The VAD alone would end a turn after `VadConfig.end_silence_ms`; here the
silence a turn needs comes from `core.turns.end_of_turn.SilencePolicy` (between `first_check_ms` and
`max_silence_ms`), which the audio model (Smart Turn, `score(samples)`) and an optional text signal feed.

- At `speculate_at_ms` of silence the turn's samples are fixed (speech + that silence): the `TurnCandidate` for
  the speculative reply and the samples of the turn however the silence ends, so a speculated reply is adopted.
- A turn ended by the model has reason "semantic". Speech that starts within `rejoin_ms` of such an early
  commit is the same user turn going on: `ContinuedAfterCommit` is emitted once it has `min_speech_ms` of voice
  (the engine stops the early reply at once) and its `Turn` has `continues=True` (the engine merges it into
  the previous user turn).
- The model runs on the calling thread; `last_compute_s` is its time at the last fed frame.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from core.turns.config import VAD_FRAME, VAD_FRAME_MS, TurnSettings, VadConfig
from core.turns.course import CoursePolicy, load_weights
from core.turns.end_of_turn import Check, EndOfTurnConfig, SilencePolicy
from core.turns.prosody import Prosody, prosody_before_pause
from core.turns.vad import (
    DetectorEvent,
    Discarded,
    SpeechStart,
    Turn,
    TurnCandidate,
    TurnDetector,
    TurnResumed,
    frames_to_s,
)

log = logging.getLogger(__name__)


class TurnScorer(Protocol):
    def score(self, samples_16k: np.ndarray):  # -> core.turns.smart_turn.TurnScore (prob, compute_s)
        ...


@dataclass(frozen=True)
class ContinuedAfterCommit:
    """Speech started soon after an early commit: the committed turn is going on."""

    frame_index: int


class SemanticTurnDetector:
    def __init__(self, vad: VadConfig, config: EndOfTurnConfig, scorer: TurnScorer,
                 text_prob: Callable[[float], float | None] | None = None, full_duplex: bool = False) -> None:
        self._cfg = config
        self._speculate = vad.speculate_after_ms is not None
        self._min_speech_ms = vad.min_speech_ms
        # the VAD's own end of turn becomes the longest silence the policy allows
        self._base = TurnDetector(dataclasses.replace(vad, end_silence_ms=config.max_silence_ms,
                                                      speculate_after_ms=None))
        self._scorer, self._text_prob = scorer, text_prob
        self._policy = make_policy(config, full_duplex)
        self._context: Prosody | None = None  # the speech before this silence, for the course policy
        self._rejoin_frames = vad.frames(config.rejoin_ms)
        self._candidate: Turn | None = None
        self._candidate_out = False
        self._committed_frame: int | None = None  # end frame of the last early commit
        self._continuing = False
        self._continued_out = False
        self._next_check_ms = config.first_check_ms
        self.last_compute_s = 0.0
        self.checks: list[Check] = []  # every model call of the current silence (for reports)

    # -- TurnDetector interface -----------------------------------------------------------------------------
    @property
    def in_speech(self) -> bool:
        return self._base.in_speech

    @property
    def speech_ms(self) -> float:
        return self._base.speech_ms

    @property
    def silence_frames(self) -> int:
        return self._base.silence_frames

    def reach_back(self, first_frame: int) -> None:
        self._base.reach_back(first_frame)

    @property
    def frame_index(self) -> int:
        return self._base.frame_index

    def reset(self) -> None:
        self._base.reset()
        self._clear_silence()
        self._continuing = False

    def skip(self, prob: float) -> None:
        self._base.skip(prob)
        self._clear_silence()
        self._continuing = False

    def forget_commit(self) -> None:
        """The early-committed turn can no longer be continued (e.g. its reply was played out)."""
        self._committed_frame = None

    def feed(self, frame: np.ndarray, prob: float) -> list[DetectorEvent | ContinuedAfterCommit]:
        self.last_compute_s = 0.0
        out: list[DetectorEvent | ContinuedAfterCommit] = []
        for ev in self._base.feed(frame, prob):
            if isinstance(ev, SpeechStart):
                self._clear_silence()
                committed = self._committed_frame
                self._continuing = committed is not None and ev.frame_index - committed <= self._rejoin_frames
                self._continued_out = False
                self._committed_frame = None
            out.append(self._finish(ev) if isinstance(ev, Turn | Discarded) else ev)
        if self._base.in_speech:
            if self._continuing and not self._continued_out and self._base.speech_ms >= self._min_speech_ms:
                self._continued_out = True  # voiced long enough not to be a cough: the turn goes on
                out.append(ContinuedAfterCommit(self.frame_index - 1))
            out += self._on_silence()
        return out

    # -- the silence ---------------------------------------------------------------------------------------
    def _on_silence(self) -> list[DetectorEvent]:
        silence_ms = self._base.silence_frames * VAD_FRAME_MS
        if silence_ms == 0:
            resumed = self._candidate_out
            self._clear_silence()
            return [TurnResumed(self.frame_index - 1)] if resumed else []
        if self._base.speech_ms < self._min_speech_ms or silence_ms < self._cfg.speculate_at_ms:
            return []
        out: list[DetectorEvent] = []
        if self._candidate is None:
            self._candidate = self._base.turn_so_far()
            if self._speculate:
                self._candidate_out = True
                out.append(TurnCandidate(self._candidate))
        if silence_ms < self._cfg.first_check_ms:
            return out
        if silence_ms >= self._next_check_ms:
            score = self._scorer.score(self._base.samples_so_far())
            at_s = frames_to_s(self.frame_index)
            text = self._text_prob(at_s) if self._text_prob is not None else None
            self.last_compute_s += score.compute_s
            if self._policy.needs_context and self._context is None:
                t0 = time.perf_counter()
                self._context = prosody_before_pause(self._base.samples_so_far(),
                                                     self._base.silence_frames * VAD_FRAME)
                self.last_compute_s += time.perf_counter() - t0
            check = self._policy.add(silence_ms, score.prob, text, self._context)
            self.checks.append(check)
            # never more often than the model keeps up with (a slow machine must not build a backlog)
            self._next_check_ms = silence_ms + max(self._cfg.check_every_ms, 1000 * score.compute_s)
            log.debug("end of turn: %.0f ms silence, p_audio %.2f, p_text %s, evidence %.2f%s", silence_ms,
                      check.audio_prob, text, check.evidence, " -> commit" if check.commit else "")
        if self._policy.ends(silence_ms):
            out.append(self._finish(self._base.commit("semantic")))
        return out

    def _finish(self, ev: DetectorEvent) -> DetectorEvent:
        """A turn closed (by the model, the longest silence or the length limit): same samples as its candidate,
        marked as a continuation when it is one."""
        if isinstance(ev, Turn):
            if self._candidate is not None and ev.reason in ("silence", "semantic"):
                ev = dataclasses.replace(ev, samples=self._candidate.samples)
            ev = dataclasses.replace(ev, continues=self._continuing, decide_s=self.last_compute_s,
                                     course=dataclasses.replace(self._policy.summary(),
                                                                first_check_ms=self._cfg.first_check_ms))
            self._committed_frame = ev.end_frame if ev.reason == "semantic" else None
        self._continuing = False
        self._clear_silence()
        return ev

    def _clear_silence(self) -> None:
        self._policy.reset()
        self._context = None
        self._candidate = None
        self._candidate_out = False
        self._next_check_ms = self._cfg.first_check_ms
        self.checks = []


def make_policy(config: EndOfTurnConfig, full_duplex: bool = False):
    """The silence policy `config.policy` names ("course": the classifier at this duplex mode's operating point)."""
    if config.policy == "mean":
        return SilencePolicy(config)
    return CoursePolicy(_weights(config.course_weights), config.commit_score_for(full_duplex),
                        config.max_silence_ms)


_WEIGHTS: dict[str | None, object] = {}


def _weights(path: str | None):
    """The course classifier, read once per file."""
    if path not in _WEIGHTS:
        _WEIGHTS[path] = load_weights(path)
    return _WEIGHTS[path]


def make_detector(config: TurnSettings, scorer: TurnScorer | None,
                  text_prob: Callable[[float], float | None] | None = None):
    """The capture side's detector for `config` (e.g. an EngineConfig): semantic when it is on and a model is
    loaded, else the VAD's silence alone (`TurnDetector`). Full duplex (`barge_in`) takes the faster operating
    point."""
    if scorer is not None and config.end_of_turn.semantic:
        return SemanticTurnDetector(config.vad, config.end_of_turn, scorer, text_prob, full_duplex=config.barge_in)
    return TurnDetector(config.vad)
