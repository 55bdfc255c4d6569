"""Turn detection: silero-vad (its bundled ONNX model) per 512-sample frame, and a pure turn state machine.

`TurnDetector` is deterministic and time-free: it counts 32 ms frames, so tests can feed it probabilities
directly. `SileroVad` wraps `silero_vad.load_silero_vad(onnx=True)` (CPU provider, one thread).
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import logging
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from core.turns.config import TURN_TAIL_MS, VAD_FRAME, VAD_FRAME_MS, VAD_RATE_HZ, VadConfig
from core.turns.end_of_turn import EndOfTurnCourse

log = logging.getLogger(__name__)

REACH_BACK_FRAMES = 64  # frames kept for reach_back (2 s)


class SpeechDetector(Protocol):
    """The VAD seam: 16 kHz frames -> speech probability (SileroVad, or a scripted stand-in in tests)."""

    def prob(self, frame: np.ndarray) -> float:
        """[512] float32 at 16 kHz -> P(speech)."""

    def reset(self) -> None: ...


class SileroVad:
    """Streaming speech probability for 512-sample float32 frames at 16 kHz."""

    def __init__(self) -> None:
        import torch  # local: keep importing this module cheap

        n_threads = torch.get_num_threads()
        from silero_vad import load_silero_vad  # its first import calls torch.set_num_threads(1) ...

        torch.set_num_threads(n_threads)  # ... which would slow the model down for the whole process: undo it
        self._torch = torch
        self._model = load_silero_vad(onnx=True)

    def prob(self, frame: np.ndarray) -> float:
        """frame: [512] float32 at 16 kHz -> P(speech) in [0, 1]."""
        if frame.shape != (VAD_FRAME,):
            raise ValueError(f"VAD frame must be [{VAD_FRAME}] samples, got {frame.shape}")
        return float(self._model(self._torch.from_numpy(frame), VAD_RATE_HZ).item())

    def reset(self) -> None:
        self._model.reset_states()


class _Phase(enum.Enum):
    SILENT = "silent"
    SPEECH = "speech"
    DRAIN = "drain"  # after a max-length cut: ignore audio until the speaker pauses


@dataclass(frozen=True)
class SpeechStart:
    frame_index: int  # first frame over the start threshold


@dataclass(frozen=True)
class Discarded:
    frame_index: int
    voiced_frames: int


@dataclass(frozen=True)
class Turn:
    samples: np.ndarray = field(repr=False)  # [N] float32 16 kHz, pre-roll included
    start_frame: int  # first frame in `samples`
    speech_end_frame: int  # one past the last voiced frame
    end_frame: int  # one past the frame that completed the turn (dispatch point)
    reason: str  # "silence" | "max_length" | "semantic" (core.turns.semantic: the end-of-turn model decided)
    continues: bool = False  # this speech went on after an early (semantic) commit: same user turn
    decide_s: float = 0.0  # model compute spent on the frame that ended the turn (its decision came this late)
    course: EndOfTurnCourse | None = None  # how the silence that ended it was read (None: not ended by a silence)


@dataclass(frozen=True)
class TurnCandidate:
    """The turn as it would be dispatched if the silence now running reaches the end of turn (speculation)."""

    turn: Turn


@dataclass(frozen=True)
class TurnResumed:
    """Speech came back after a TurnCandidate: that candidate is void."""

    frame_index: int


DetectorEvent = SpeechStart | Discarded | Turn | TurnCandidate | TurnResumed


class TurnDetector:
    """Pre-roll, hysteresis, minimum speech, end-of-turn silence and maximum length, in whole frames."""

    def __init__(self, config: VadConfig) -> None:
        self._cfg = config
        self._pre_frames = config.frames(config.pre_roll_ms)
        self._min_voiced = config.frames(config.min_speech_ms)
        self._end_frames = config.frames(config.end_silence_ms)
        self._max_frames = config.frames(config.max_turn_ms)
        # a short tail of the end-of-turn silence stays in the turn (natural decay of the last word)
        self._tail_frames = min(self._end_frames, config.frames(TURN_TAIL_MS))
        # a candidate after this much silence holds exactly the final turn's samples (the same tail is kept)
        spec = None if config.speculate_after_ms is None else max(config.frames(config.speculate_after_ms),
                                                                   self._tail_frames)
        self._spec_frames = spec if spec is not None and spec < self._end_frames else None
        self._index = 0
        self._recent: collections.deque[tuple[int, np.ndarray]] = collections.deque(maxlen=REACH_BACK_FRAMES)
        self.reset()

    def reset(self) -> None:
        """Forget any speech in progress (e.g. while half-duplex ignores the microphone)."""
        self._phase = _Phase.SILENT
        self._preroll: collections.deque[np.ndarray] = collections.deque(maxlen=max(self._pre_frames, 1))
        self._frames: list[np.ndarray] = []
        self._start_frame = 0
        self._voiced = 0
        self._silence_run = 0
        self._candidate_out = False  # a TurnCandidate was emitted for the silence now running

    def skip(self, prob: float) -> None:
        """Advance the clock by one frame while the microphone is ignored: speech in progress and pre-roll
        are dropped, but a max-length cut keeps waiting for the speaker's pause (the monologue's rest is not a
        new turn)."""
        self._index += 1
        if self._phase is _Phase.DRAIN:
            self._silence_run = self._silence_run + 1 if prob < self._cfg.stop_threshold else 0
            if self._silence_run >= self._end_frames:
                self.reset()
        elif self._phase is not _Phase.SILENT or self._preroll:
            self.reset()

    @property
    def in_speech(self) -> bool:
        return self._phase is _Phase.SPEECH

    @property
    def speech_ms(self) -> float:
        """Voiced time of the speech in progress (0 when silent)."""
        return self._voiced * VAD_FRAME_MS if self.in_speech else 0.0

    @property
    def silence_frames(self) -> int:
        """Frames of the silence now running inside a turn (0 outside speech)."""
        return self._silence_run if self.in_speech else 0

    def turn_so_far(self, reason: str = "silence") -> Turn:
        """The turn as it would be dispatched at the last fed frame (speech + at most the kept tail)."""
        return self._turn(self._index - 1, reason)

    def samples_so_far(self) -> np.ndarray:
        """[N] float32: the turn in progress with all of the silence now running (what an end-of-turn model
        hears)."""
        return np.concatenate(self._frames).astype(np.float32, copy=False) if self._frames else np.zeros(0, np.float32)

    def commit(self, reason: str) -> DetectorEvent:
        """End the turn in progress now, at the last fed frame (an end-of-turn model decided)."""
        if not self.in_speech:
            raise RuntimeError("commit() needs speech in progress")
        return self._close(self._index - 1, reason)

    @property
    def frame_index(self) -> int:
        """Frames fed so far (the index the next frame will get)."""
        return self._index

    def reach_back(self, first_frame: int) -> None:
        """Start the speech in progress at `first_frame` instead (no later than it starts now, at most
        REACH_BACK_FRAMES back): speech over a reply began before the VAD's threshold, muffled by the echo
        canceller."""
        if not self.in_speech or first_frame >= self._start_frame:
            return
        earlier = [f for i, f in self._recent if first_frame <= i < self._start_frame]
        if earlier:
            self._frames = [*earlier, *self._frames]
            self._start_frame -= len(earlier)

    def feed(self, frame: np.ndarray, prob: float) -> list[DetectorEvent]:
        """frame: [512] float32; prob: its speech probability. Returns what happened at this frame."""
        index = self._index
        self._index += 1
        self._recent.append((index, frame))
        if self._phase is _Phase.SILENT:
            return self._feed_silent(frame, prob, index)
        if self._phase is _Phase.DRAIN:
            self._silence_run = self._silence_run + 1 if prob < self._cfg.stop_threshold else 0
            if self._silence_run >= self._end_frames:
                self.reset()
            return []
        return self._feed_speech(frame, prob, index)

    def _feed_silent(self, frame: np.ndarray, prob: float, index: int) -> list[DetectorEvent]:
        if prob < self._cfg.start_threshold:
            if self._pre_frames:
                self._preroll.append(frame)
            return []
        self._phase = _Phase.SPEECH
        self._frames = [*self._preroll, frame] if self._pre_frames else [frame]
        self._preroll.clear()
        self._start_frame = index + 1 - len(self._frames)
        self._voiced = 1
        self._silence_run = 0
        return [SpeechStart(index)]

    def _feed_speech(self, frame: np.ndarray, prob: float, index: int) -> list[DetectorEvent]:
        self._frames.append(frame)
        events: list[DetectorEvent] = []
        if prob >= self._cfg.stop_threshold:
            self._voiced += 1
            self._silence_run = 0
            if self._candidate_out:
                self._candidate_out = False
                events.append(TurnResumed(index))
        else:
            self._silence_run += 1
        if self._silence_run >= self._end_frames:
            return [*events, self._close(index, "silence")]
        if len(self._frames) >= self._max_frames:
            event = self._close(index, "max_length")
            self._phase = _Phase.DRAIN
            return [*events, event]
        if self._silence_run == self._spec_frames and self._voiced >= self._min_voiced:
            self._candidate_out = True
            events.append(TurnCandidate(self._turn(index, "silence")))
        return events

    def _turn(self, index: int, reason: str) -> Turn:
        """The turn ending at frame `index`: speech plus at most the kept tail of the silence now running."""
        silence = self._silence_run
        keep = len(self._frames) - max(0, silence - self._tail_frames)
        samples = np.concatenate(self._frames[:keep]).astype(np.float32, copy=False)
        return Turn(samples, self._start_frame, index + 1 - silence, index + 1, reason)

    def _close(self, index: int, reason: str) -> DetectorEvent:
        if self._voiced < self._min_voiced:
            event: DetectorEvent = Discarded(index, self._voiced)
        else:
            event = self._turn(index, reason)
            if reason == "silence":  # no end-of-turn model here: the VAD's silence alone
                end_ms = self._end_frames * VAD_FRAME_MS
                event = dataclasses.replace(event, course=EndOfTurnCourse("vad", (), end_ms, end_ms))
        self.reset()
        return event


def frames_to_s(frames: int) -> float:
    return frames * VAD_FRAME / VAD_RATE_HZ
