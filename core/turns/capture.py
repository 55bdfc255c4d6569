"""The capture thread's work: device-rate blocks -> 16 kHz -> echo cancellation (the "speakers" duplex mode) ->
512-sample frames -> silero-vad -> TurnDetector, mic levels and signal warnings, and speech over a reply. It
decides nothing about replies: it calls back, and the engine's hooks only post the decision to its control thread
(core.engine.control), so this thread never waits on a reply being cancelled or started.

Speech over a reply (full duplex) pauses it, stops it or lets it play on after a backchannel: core.turns.over_reply
decides, this thread calls the hooks, drops a backchannel's turn, and lets an interruption's turn reach back to its
first (muffled) words."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.audio.devices import FrameChunker, MicCapture, Resampler
from core.audio.echo import EchoCanceller
from core.audio.levels import LevelConfig, LevelWatch, MicLevel, SignalWarning
from core.turns.config import VAD_FRAME, VAD_FRAME_MS, VAD_RATE_HZ, TurnSettings
from core.turns.events import CaptureProblem, SpeechDiscarded, SpeechIgnored, SpeechStarted
from core.turns.over_reply import OverReply
from core.turns.semantic import ContinuedAfterCommit, TurnScorer, make_detector
from core.turns.vad import Discarded, SpeechDetector, SpeechStart, Turn, TurnCandidate, TurnResumed, frames_to_s

log = logging.getLogger(__name__)

QUEUE_POLL_S = 0.1  # how often an idle capture thread re-checks its stop flag
OVERFLOW_REPORT_S = 5.0  # at most one "input fell behind" error per this period


CaptureEvent = SpeechStarted | SpeechDiscarded | SpeechIgnored | CaptureProblem | MicLevel | SignalWarning


@dataclass(frozen=True)
class CaptureHooks:
    emit: Callable[[CaptureEvent], None]
    dispatch: Callable[[Turn, float | None], None]  # (turn, monotonic arrival of its last voiced frame)
    barge_in: Callable[[float, float | None], None]  # (speech_ms, monotonic arrival of the speech onset)
    mic_live: Callable[[], bool]  # False: half-duplex is ignoring the microphone
    speculate: Callable[[Turn, float | None], None] | None = None  # a TurnCandidate (speculative turn start)
    resume: Callable[[], None] | None = None  # the candidate's speaker went on
    continued: Callable[[], None] | None = None  # the user went on after an early (semantic) commit
    replying: Callable[[], bool] | None = None  # a reply is running (speech now is speech over it)
    pause: Callable[[float, float | None], None] | None = None  # (speech_ms, onset arrival): silence the reply
    backchannel: Callable[[float], None] | None = None  # (speech_ms): that speech was a backchannel, play on
    mic_tap: Callable[[np.ndarray, np.ndarray], None] | None = None  # (raw, cleaned) 16 kHz, as they come


class CaptureLoop:
    def __init__(self, capture: MicCapture, vad: SpeechDetector, config: TurnSettings, levels: LevelConfig,
                 hooks: CaptureHooks, end_of_turn: TurnScorer | None = None,
                 end_of_turn_text: Callable[[float], float | None] | None = None,
                 echo: EchoCanceller | None = None) -> None:
        """end_of_turn: a Smart Turn scorer (core.turns.smart_turn) or None (the VAD's silence ends turns);
        end_of_turn_text: the partial transcript's end-of-utterance probability (core.turns.text_eou);
        echo: the canceller of the "speakers" mode (core.audio.echo), fed the speaker's reference."""
        self._cap, self._vad, self._cfg, self._hooks = capture, vad, config, hooks
        self.echo = echo
        self._over = OverReply(config)  # speech over a running reply (full duplex)
        self._over_onset_t: float | None = None  # arrival of its first voiced block
        self._resampler = Resampler(capture.rate_hz, VAD_RATE_HZ)
        self._chunker = FrameChunker(VAD_FRAME)
        self._detector = make_detector(config, end_of_turn, end_of_turn_text)
        self._ignored_voiced = 0  # voiced frames heard while the microphone is muted (half-duplex)
        self._tail_quiet: int | None = None  # frames of quiet so far in the tail of speech heard while muted
        self._levels = LevelWatch(levels, VAD_FRAME_MS)
        self._last_voiced_t: float | None = None
        self._speech_start_t: float | None = None
        self.vad_compute_s = 0.0
        self.frames = 0
        self._reported_drops = 0
        self._reported_t = self._error_t = -OVERFLOW_REPORT_S

    def run(self, running: threading.Event) -> None:
        """Thread body: until `running` is cleared."""
        while running.is_set():
            try:
                arrival_t, block = self._cap.queue.get(timeout=QUEUE_POLL_S)
            except queue.Empty:
                continue
            self._check_overflow()
            try:
                raw = self._resampler.process(block)  # [M] float32 at 16 kHz
                clean = raw if self.echo is None else self.echo.process(raw, self._cap.adc_time(arrival_t, block.size))
                if self._hooks.mic_tap is not None:
                    self._hooks.mic_tap(raw, clean)
                for frame in self._chunker.push(clean):
                    self._on_frame(frame, arrival_t)
            except Exception as err:  # keep listening: a deaf engine would be worse than a lost block
                self._report_internal(err)

    def _report_internal(self, err: Exception) -> None:
        log.exception("capture thread: processing a block failed")
        now = time.monotonic()
        if now - self._error_t >= OVERFLOW_REPORT_S:
            self._error_t = now
            self._hooks.emit(
                CaptureProblem(
                    f"Audio processing failed ({type(err).__name__}: "
                    f"{err}); still listening — if this repeats, restart the conversation.",
                )
            )

    def _check_overflow(self) -> None:
        dropped, now = self._cap.dropped_blocks, time.monotonic()
        if dropped > self._reported_drops and now - self._reported_t >= OVERFLOW_REPORT_S:
            self._reported_drops, self._reported_t = dropped, now
            log.warning("capture queue overflow: %d blocks dropped so far", dropped)
            self._hooks.emit(
                CaptureProblem(
                    f"Audio input fell behind and {dropped} blocks were "
                    f"dropped: the machine is overloaded; close other programs.",
                )
            )

    def _on_frame(self, frame: np.ndarray, arrival_t: float) -> None:
        t0 = time.perf_counter()
        prob = self._vad.prob(frame)
        self.vad_compute_s += time.perf_counter() - t0
        self.frames += 1
        det, hooks = self._detector, self._hooks
        ignored = not hooks.mic_live()
        for ev in self._levels.update(frame, prob, ignored, det.in_speech):
            hooks.emit(ev)
        if ignored:
            det.skip(prob)  # forget speech and pre-roll, keep the frame clock running
            self._note_ignored(prob)
            return
        if self._ignored_voiced < 0 and prob >= self._cfg.vad.stop_threshold:
            self._tail_quiet = 0  # the user talked over the reply and still talks as the microphone opens
            log.info("speech heard while muted goes on as the microphone opens: its tail is not a turn")
        self._ignored_voiced = 0
        if self._tail_quiet is not None:
            self._skip_tail(prob)
            return
        if prob >= self._cfg.vad.stop_threshold:
            self._last_voiced_t = arrival_t
        overlap = self._cfg.barge_in and hooks.replying is not None and hooks.replying()
        if not overlap:
            self._over.reply_over(det.in_speech)
        elif self._over.onset_frame is None and prob >= self._cfg.over_reply_threshold:
            self._over_onset_t = arrival_t
        for ev in det.feed(frame, prob):
            if isinstance(ev, SpeechStart):
                self._speech_start_t = arrival_t
                hooks.emit(SpeechStarted(frames_to_s(ev.frame_index)))
                if self._over.state is not None:
                    self._reach_back(det)
            elif isinstance(ev, Discarded | Turn) and self._over.state in ("paused", "resumed"):
                self._drop_backchannel(det)
            elif isinstance(ev, Discarded):
                hooks.emit(SpeechDiscarded(frames_to_s(det.frame_index), ev.voiced_frames * VAD_FRAME_MS))
            elif isinstance(ev, Turn):
                hooks.dispatch(ev, self._last_voiced_t)
            elif isinstance(ev, TurnCandidate) and hooks.speculate is not None:
                hooks.speculate(ev.turn, self._last_voiced_t)
            elif isinstance(ev, TurnResumed) and hooks.resume is not None:
                hooks.resume()
            elif isinstance(ev, ContinuedAfterCommit) and hooks.continued is not None:
                hooks.continued()
        if overlap:
            self._over_reply(prob, det)
        elif self._cfg.barge_in and det.speech_ms >= self._cfg.barge_in_ms:
            hooks.barge_in(det.speech_ms, self._speech_start_t)  # a reply starting now: the engine filters

    def _over_reply(self, prob: float, det) -> None:
        """Speech while a reply runs (full duplex): pause, stop (barge-in) or play on (core.turns.over_reply)."""
        hooks, over = self._hooks, self._over
        action = over.frame(det.frame_index - 1, prob, det.speech_ms, det.in_speech)
        if action == "stop":
            self._reach_back(det)
            hooks.barge_in(over.speech_ms, self._speech_start_t or self._over_onset_t)
        elif action == "pause" and hooks.pause is not None:
            hooks.pause(over.speech_ms, self._over_onset_t)
        elif action == "resume" and hooks.backchannel is not None:
            hooks.backchannel(over.speech_ms)

    def _drop_backchannel(self, det) -> None:
        """The detector closed the speech over the reply short of a stop: a backchannel, no turn; the reply plays."""
        drop, resume = self._over.closed()
        if resume and self._hooks.backchannel is not None:
            self._hooks.backchannel(self._over.speech_ms)
        forget = getattr(det, "forget_commit", None)
        if forget is not None:
            forget()  # a dropped backchannel is no turn the next speech could continue

    def _reach_back(self, det) -> None:
        """The speech over the reply began before the detector's start (the canceller muffled its first words):
        the turn takes them, with the pre-roll before them."""
        onset = self._over.onset_frame
        if onset is not None and det.in_speech:
            det.reach_back(onset - self._cfg.vad.frames(self._cfg.vad.pre_roll_ms))

    def _skip_tail(self, prob: float) -> None:
        """Half-duplex: the rest of speech begun while the microphone was muted is not a turn of its own (the
        front end said it was not heard); listening resumes after the speaker's pause (`end_silence_ms`)."""
        self._detector.skip(prob)
        quiet = self._tail_quiet + 1 if prob < self._cfg.vad.stop_threshold else 0
        self._tail_quiet = None if quiet >= self._cfg.vad.frames(self._cfg.vad.end_silence_ms) else quiet

    def _note_ignored(self, prob: float) -> None:
        """Half-duplex muting: say once per muted stretch that voiced sound was heard (never drop it silently)."""
        if prob < self._cfg.vad.start_threshold or self._ignored_voiced < 0:
            return
        self._ignored_voiced += 1
        speech_ms = self._ignored_voiced * VAD_FRAME_MS
        if speech_ms >= self._cfg.barge_in_ms:
            self._ignored_voiced = -1  # reported; again only after the microphone was live
            self._hooks.emit(SpeechIgnored(frames_to_s(self._detector.frame_index), speech_ms))
