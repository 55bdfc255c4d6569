"""Frozen, validated configuration of the turn stage: the VAD frame, turn detection (`VadConfig`), the semantic end
of turn (`EndOfTurnConfig`), and what the stage reads from its owner's config (`TurnSettings`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.options import check, opt
from models.rates import SPEECH_RATE_HZ as VAD_RATE_HZ  # silero-vad and the model both take 16 kHz mono

VAD_FRAME = 512  # samples per silero-vad chunk at 16 kHz (32 ms)
VAD_FRAME_MS = 1000.0 * VAD_FRAME / VAD_RATE_HZ
TURN_TAIL_MS = 200.0  # silence kept at the end of a turn (the last word's natural decay)


@dataclass(frozen=True)
class VadConfig:
    """Turn detection. Durations are rounded up to whole 32 ms VAD frames."""

    start_threshold: float = opt(0.5, "speech starts when P(speech) >= this")
    stop_threshold: float = opt(0.35, "speech counts as silence again when P(speech) < this (hysteresis)")
    pre_roll_ms: float = opt(300.0, "audio kept before the start so word onsets are not clipped")
    min_speech_ms: float = opt(250.0, "voiced time below this is discarded (coughs, clicks)")
    end_silence_ms: float = opt(700.0, "silence that ends a turn (bridges comma pauses)")
    max_turn_ms: float = opt(30000.0, "a turn is cut and dispatched at this length")
    # speculative turn start: after this much silence the reply is computed (not played) on the turn so far;
    # kept if the silence reaches end_silence_ms, dropped if the user goes on. None = off; so is a value that
    # does not come before end_silence_ms. Never before the turn's kept tail (TURN_TAIL_MS), so the speculated
    # audio is exactly the audio of the final turn.
    speculate_after_ms: float | None = opt(250.0, "start computing the reply after this pause and play it if the turn "
                                                  "ends (none = off)")

    def __post_init__(self) -> None:
        check(
            0.0 < self.stop_threshold <= self.start_threshold < 1.0,
            f"need 0 < stop_threshold <= start_threshold < 1, got {self.stop_threshold}, {self.start_threshold}",
        )
        check(0.0 <= self.pre_roll_ms <= 2000.0, f"pre_roll_ms must be in [0, 2000], got {self.pre_roll_ms}")
        check(
            0.0 <= self.min_speech_ms <= 5000.0,
            f"min_speech_ms must be in [0, 5000], got {self.min_speech_ms}",
        )
        check(
            VAD_FRAME_MS <= self.end_silence_ms <= 10000.0,
            f"end_silence_ms must be in [{VAD_FRAME_MS}, 10000], got {self.end_silence_ms}",
        )
        check(
            self.max_turn_ms >= 1000.0 and self.max_turn_ms > self.min_speech_ms,
            f"max_turn_ms must be >= 1000 and > min_speech_ms, got {self.max_turn_ms}",
        )
        check(
            self.speculate_after_ms is None or VAD_FRAME_MS <= self.speculate_after_ms <= 10000.0,
            f"speculate_after_ms must be None (off) or in [{VAD_FRAME_MS}, 10000], got {self.speculate_after_ms}",
        )

    def frames(self, ms: float) -> int:
        """Whole VAD frames covering `ms` (at least 0)."""
        return max(0, -int(-ms // VAD_FRAME_MS))


@dataclass(frozen=True)
class EndOfTurnConfig:
    """Semantic end of turn. Off (or the model missing): the VAD's `end_silence_ms` ends the turn."""

    semantic: bool = opt(True, "use the Smart Turn audio model (and the text signal when a transcript exists)")
    smart_turn_model: str | None = opt(None, "Smart Turn v3 ONNX file (default: the one inside the pipecat-ai wheel)")
    policy: str = opt("course", "how the evidence over a pause is read: 'course' (a classifier over the model's "
                                "course, prosody and the text signal) or 'mean' (the mean probability)",
                      choices=("course", "mean"))
    first_check_ms: float = opt(96.0, "shortest pause: the first model call (also the earliest commit)")
    speculate_at_ms: float = opt(96.0, "silence after which the turn's samples are fixed and the speculative reply "
                                       "starts on them (at most first_check_ms: a head start over every commit)")
    check_every_ms: float = opt(96.0, "then one call per this much more silence")
    commit_prob: float = opt(0.8, "P(finished) that ends the turn after the shortest pause")
    hold_prob: float = opt(0.3, "P(finished) at or below which the longest pause is waited for")
    max_silence_ms: float = opt(1152.0, "the longest silence inside a turn (the model's 'not finished' limit)")
    text_weight: float = opt(0.5, "weight of the text end-of-utterance probability when a transcript exists")
    rejoin_ms: float = opt(2000.0, "speech this soon after an early commit continues that turn")
    course_weights: str | None = opt(None, "the course policy's classifier (default: assets/end_of_turn/course.json)")
    # operating points chosen on the turn corpus' TRAINING split (bench/bench_turn_corpus.py curves): the fastest
    # score keeping >= 95 % (half-duplex) / >= 85 % (full duplex) of paused sentences whole there
    commit_score: float = opt(0.8, "course policy: the classifier score that ends the turn (half-duplex)")
    full_duplex_commit_score: float = opt(0.7, "course policy: the score that ends the turn when the user may talk "
                                               "over the reply (a wrong commit is then undone by speaking on)")

    def __post_init__(self) -> None:
        check(self.policy in ("course", "mean"), f"policy must be 'course' or 'mean', got {self.policy!r}")
        check(VAD_FRAME_MS <= self.first_check_ms <= 5000.0,
               f"first_check_ms must be in [{VAD_FRAME_MS}, 5000], got {self.first_check_ms}")
        check(VAD_FRAME_MS <= self.speculate_at_ms <= self.first_check_ms,
               f"speculate_at_ms must be in [{VAD_FRAME_MS}, first_check_ms], got {self.speculate_at_ms}")
        check(VAD_FRAME_MS <= self.check_every_ms <= 5000.0,
               f"check_every_ms must be in [{VAD_FRAME_MS}, 5000], got {self.check_every_ms}")
        check(0.0 <= self.hold_prob < self.commit_prob <= 1.0,
               f"need 0 <= hold_prob < commit_prob <= 1, got {self.hold_prob}, {self.commit_prob}")
        check(self.first_check_ms <= self.max_silence_ms <= 10000.0,
               f"max_silence_ms must be in [first_check_ms, 10000], got {self.max_silence_ms}")
        check(0.0 <= self.text_weight <= 1.0, f"text_weight must be in [0, 1], got {self.text_weight}")
        check(0.0 <= self.rejoin_ms <= 10000.0, f"rejoin_ms must be in [0, 10000], got {self.rejoin_ms}")
        for name in ("commit_score", "full_duplex_commit_score"):
            value = getattr(self, name)
            check(0.0 < value <= 1.0, f"{name} must be in (0, 1], got {value}")

    def commit_score_for(self, full_duplex: bool) -> float:
        """The course policy's operating point for this duplex mode."""
        return self.full_duplex_commit_score if full_duplex else self.commit_score

    def required_silence_ms(self, evidence: float) -> float:
        """The silence a turn with this evidence needs before it ends."""
        if evidence >= self.commit_prob:
            return self.first_check_ms
        if evidence <= self.hold_prob:
            return self.max_silence_ms
        frac = (evidence - self.hold_prob) / (self.commit_prob - self.hold_prob)
        return self.max_silence_ms + frac * (self.first_check_ms - self.max_silence_ms)


class TurnSettings(Protocol):
    """What the turn stage (core.turns.capture, core.turns.semantic, core.turns.offline) reads from its owner's
    config; core.engine.config.EngineConfig provides it."""

    vad: VadConfig
    end_of_turn: EndOfTurnConfig
    barge_in: bool  # False: half-duplex, user speech never interrupts a reply
    barge_in_ms: float  # speech this long over a reply pauses it (and is reported while half-duplex ignores the mic)
    over_reply_threshold: float  # P(speech) that counts as voice over a reply
    interruption: str  # "backchannel": pause, then stop or resume; "immediate": stop at barge_in_ms
    backchannel_ms: float  # speech over a reply this long is an interruption
    backchannel_gap_ms: float  # silence after shorter speech that makes it a backchannel
