"""Turns in, reply jobs out: the engine's state machine. Every method runs on the control thread
(core.engine.control), so none of this state needs a lock; other threads only read `state` and `mic_live()`.

    turn ended     -> cancel + join the running reply, clip its history to what was heard, add the user turn,
                      start the reply (or adopt the speculative one computed on exactly this audio)
    barge-in       -> cancel the running reply (playback silent at once), LISTENING
    continued      -> the user went on after an early (semantic) commit: stop its reply; the next turn merges
                      with it (core.engine.continuation)
    candidate      -> start a held speculative reply on the turn so far (core.engine.speculation)
    resumed        -> drop it, unseen and unheard
    job / playout  -> THINKING -> SPEAKING on the first played sample; reply over -> finalize, LISTENING
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from core.audio.playout import PlayoutBuffer
from core.engine import continuation
from core.engine.audio_io import EngineAudio
from core.engine.config import EngineConfig
from core.engine.events import (
    BargeIn,
    EngineError,
    EngineEvent,
    EngineState,
    ErrorKind,
    ReplyPaused,
    ReplyResumed,
    StateChanged,
    UserTextSubmitted,
    UserTurnCaptured,
)
from core.engine.reply_job import ReplyJob, ReplyRequest
from core.engine.speculation import Speculation, SpeculationSlot
from core.engine.worker import Worker
from core.lm.sampling import SamplingConfig
from core.seams import History, ModelRunner, VoiceSynthesizer
from core.turns.config import VAD_RATE_HZ
from core.turns.vad import Turn, frames_to_s
from core.voice.schedule_plan import PlaybackPlan
from models.errors import UserError

log = logging.getLogger(__name__)

ECHO_TAIL_MS = 150.0  # half-duplex: keep ignoring the mic this long after playback ends
REPLYING = (EngineState.THINKING, EngineState.SPEAKING)


@dataclass(frozen=True)
class ReplyModels:
    runner: ModelRunner
    vocoder: VoiceSynthesizer
    playback: PlaybackPlan
    sampling: SamplingConfig | None = None


class ReplyControl:
    def __init__(
        self,
        models: ReplyModels,
        conversation: History,
        config: EngineConfig,
        playout: PlayoutBuffer,
        audio: EngineAudio,
        emit: Callable[[EngineEvent], None],
        job_done: Callable[[ReplyJob], None],
    ) -> None:
        self._models, self.conversation, self._cfg = models, conversation, config
        self._playout, self._audio, self._emit, self._job_done = playout, audio, emit, job_done
        self.state = EngineState.IDLE
        self._turn_id = 0
        self._job: ReplyJob | None = None
        self._spec = SpeculationSlot()  # a reply computed before its turn ended
        self.workers: tuple[Worker, Worker] | None = None  # (model, vocoder) while started
        self._mic_open_t = 0.0
        self._drain: tuple[ReplyJob, float, int] | None = None  # (finished job, since when, samples played then)
        self._early: continuation.EarlyTurn | None = None  # the last turn, when the end-of-turn model committed it
        self.full_duplex = config.barge_in  # the resolved duplex mode (Engine.start): the mic stays live

    # -- read from any thread --------------------------------------------------------------------------------
    def mic_live(self) -> bool:
        if self.full_duplex:
            return True
        # half-duplex: also live while the reply is computed and nothing plays yet (no echo to hear), so speech
        # that goes on after an early commit is heard
        listening = self.state in (EngineState.LISTENING, EngineState.THINKING)
        return listening and time.monotonic() >= self._mic_open_t

    def set_state(self, new: EngineState, reason: str) -> None:
        old, self.state = self.state, new
        if old is not new:
            log.info("state %s -> %s (%s)", old.value, new.value, reason)
            self._emit(StateChanged(old, new, reason))

    @property
    def turn_id(self) -> int:
        return self._turn_id

    def skip_turn_ids(self, last_used: int) -> None:
        self._turn_id = max(self._turn_id, last_used)

    # -- decisions (control thread) ----------------------------------------------------------------------------
    def on_turn(self, turn: Turn, speech_end_t: float | None) -> int:
        """A user turn ended (VAD, push-to-talk, submit_turn). Returns its id, -1 if the audio was unusable."""
        spec = self._spec.take(turn.samples) if self._job is None and not turn.continues else None
        self._cancel_current()
        early, self._early = self._early, None
        continues, turn = continuation.merge(early, self.conversation.turns, turn)
        try:
            if spec is not None:
                user = self.conversation.append(spec.user_turn)
            else:
                user = self.conversation.add_user_audio(turn.samples)
        except UserError as err:
            msg = f"That turn could not be used ({err}); please say it again."
            self._emit(EngineError(ErrorKind.INPUT_SIGNAL, msg))
            return -1
        self._turn_id += 1
        self._early = (self._turn_id, user, turn.samples) if turn.reason == "semantic" else None
        self._report_turn(self._turn_id, turn, speech_end_t, continues)
        if spec is not None:
            self._adopt(spec, self._turn_id)
        else:
            self._start_reply(self._turn_id)
        return self._turn_id

    def on_text(self, text: str) -> int:
        """A typed user turn. Returns its id, -1 if unusable."""
        self._cancel_current()
        try:
            self.conversation.add_user_text(text)
        except UserError as err:
            self._emit(EngineError(ErrorKind.INPUT_SIGNAL, f"That message could not be used ({err})."))
            return -1
        self._turn_id += 1
        self._emit(UserTextSubmitted(self._turn_id, text, time.monotonic()))
        self._start_reply(self._turn_id)
        return self._turn_id

    def on_barge_in(self, speech_ms: float, speech_start_t: float | None, stopped_by: str | None = None) -> None:
        """The user spoke over the reply, or `stopped_by` says what else stopped it (the stop button, the next
        turn; speech_ms 0): silence it and cancel it now."""
        job = self._job
        if job is None or job.cancelled:
            return
        job.cancel()  # playback silent from the next output callback; generation cancelled
        if stopped_by is None:
            log.info("barge-in on reply %d after %.0f ms of speech", job.turn_id, speech_ms)
        else:
            log.info("reply %d stopped (%s)", job.turn_id, stopped_by)
        self._emit(BargeIn(job.turn_id, speech_ms, speech_start_t, time.monotonic()))
        self.set_state(EngineState.LISTENING, "barge_in" if speech_ms > 0 else "interrupted")

    def on_stop(self) -> None:
        """The stop button (Esc): end the reply as a barge-in would, without a new turn; logged as a stop."""
        self.on_barge_in(0.0, None, stopped_by="stop button")

    def on_pause(self, speech_ms: float, speech_start_t: float | None) -> None:
        """Speech over the reply (full duplex): silence it, keeping its place; a barge-in or a backchannel
        follows."""
        job = self._job
        if job is None or job.cancelled or not self._playout.pause(job.turn_id):
            return
        log.info("reply %d paused after %.0f ms of speech over it", job.turn_id, speech_ms)
        self._emit(ReplyPaused(job.turn_id, speech_ms, speech_start_t, time.monotonic()))

    def on_backchannel(self, speech_ms: float) -> None:
        """The speech that paused the reply was short ("mm-hm"): play on from where it stopped."""
        job = self._job
        if job is None or job.cancelled or not self._playout.resume(job.turn_id):
            return
        log.info("reply %d resumed after a %.0f ms backchannel", job.turn_id, speech_ms)
        self._emit(ReplyResumed(job.turn_id, speech_ms, time.monotonic()))

    def on_candidate(self, turn: Turn, speech_end_t: float | None) -> None:
        """A short pause: compute the reply to the turn so far, held back (core.engine.speculation)."""
        self._spec.drop()
        if self._job is not None or self.state is not EngineState.LISTENING:
            return
        try:
            user = self.conversation.user_audio_turn(turn.samples)
        except UserError:
            return  # the dispatched turn reports it
        job = self._new_job(self._turn_id + 1, self.conversation.extended(user), held=True)
        self._spec.set(Speculation(turn.samples, user, job, time.monotonic()))
        log.debug("speculative reply %d started on %.2f s of audio", job.turn_id, turn.samples.size / VAD_RATE_HZ)
        job.start()

    def on_continued(self) -> None:
        """The user went on after an early commit: stop that turn's reply at once (the barge-in path)."""
        early, job = self._early, self._job
        if early is not None and job is not None and job.turn_id == early[0]:
            self.on_barge_in(self._cfg.vad.min_speech_ms, None)

    def on_resumed(self) -> None:
        """The user went on after a candidate pause: drop the speculative reply."""
        self._spec.drop()

    def on_progress(self) -> None:
        """A job ended or the jitter buffer changed: THINKING -> SPEAKING, or finalize a reply that is over."""
        job = self._job
        if job is None:
            return
        if (self.state is EngineState.THINKING and not job.cancelled and self._playout.wait_first_play(0)
                and self._playout.stats().reply_id == job.turn_id):
            self.set_state(EngineState.SPEAKING, "first_audio")
        if job.finished() and self._playout.wait_done(0):
            self._finalize(job)

    def stop_replies(self, wait_s: float) -> None:
        """Shutdown: drop the speculative reply, cancel and finalize the current one (history keeps what was
        heard), waiting up to `wait_s` for its loops."""
        self._spec.drop()
        job = self._job
        if job is not None:
            job.cancel()
            self._finalize(job, wait=True, wait_s=wait_s)

    def check_drain(self, drain_timeout_s: float) -> None:
        """A computed reply whose playback has made no progress for `drain_timeout_s` (a stuck output): end it.
        Progress, not the time since the job finished, is what counts: a reply computed far faster than it plays
        (a GPU, the rig's stand-in voice) keeps playing to its end."""
        job = self._job
        if job is None or not job.finished() or self._playout.wait_done(0):
            self._drain = None
            return
        now = time.monotonic()
        st = self._playout.stats()
        played = st.played if st.reply_id == job.turn_id else -1
        if self._drain is None or self._drain[0] is not job or played != self._drain[2] or st.paused:
            self._drain = (job, now, played)  # first seen, or it played on since (or a pause holds it)
            return
        if now - self._drain[1] > drain_timeout_s:
            log.warning("reply %d: playback made no progress for %.1f s; ending the reply", job.turn_id,
                        drain_timeout_s)
            self._playout.stop()  # its listener posts on_progress, which finalizes

    # -- jobs ------------------------------------------------------------------------------------------------
    def _cancel_current(self) -> None:
        self._spec.drop()
        job = self._job
        if job is not None:
            self.on_barge_in(0.0, None, stopped_by="a new turn began")
            self._finalize(job, wait=True)

    def _new_job(self, tid: int, conversation: History, held: bool) -> ReplyJob:
        m = self._models
        return ReplyJob(ReplyRequest(
            tid, m.runner, conversation, m.vocoder, self._playout, self._audio.output_rate_hz, self._emit,
            playback=m.playback, sampling=m.sampling, first_chunk_priority=self._cfg.first_chunk_priority, held=held,
            workers=self.workers, on_done=self._job_done,
        ))

    def _start_reply(self, tid: int) -> None:
        self.set_state(EngineState.THINKING, "turn_captured")
        self._job = self._new_job(tid, self.conversation, held=False)
        self._job.start()

    def _adopt(self, spec: Speculation, tid: int) -> None:
        if spec.job.turn_id != tid:
            raise RuntimeError(f"speculative reply {spec.job.turn_id} adopted as turn {tid}")
        self.set_state(EngineState.THINKING, "turn_captured")
        self._job = spec.job
        spec.job.commit()
        log.info("turn %d: speculative reply adopted (%.0f ms head start)", tid,
                 1000 * (time.monotonic() - spec.started_t))
        self.on_progress()  # it may have finished while held

    def _report_turn(self, tid: int, turn: Turn, speech_end_t: float | None, continues: int | None) -> None:
        frames = (frames_to_s(turn.start_frame), frames_to_s(turn.speech_end_frame), frames_to_s(turn.end_frame))
        self._emit(UserTurnCaptured(tid, turn.samples, VAD_RATE_HZ, *frames, turn.reason, speech_end_t,
                                    time.monotonic(), continues, turn.course))
        if turn.reason == "max_length":
            limit_s = self._cfg.vad.max_turn_ms / 1000
            msg = f"The turn reached the {limit_s:g} s maximum and was cut there; pause sooner, or raise max_turn_ms."
            self._emit(EngineError(ErrorKind.INPUT_SIGNAL, msg))

    def _finalize(self, job: ReplyJob, wait: bool = False, wait_s: float | None = None) -> None:
        """Reply over (played out, cancelled or failed): clip history to what was heard, report, listen."""
        if wait and not job.join(self._cfg.join_timeout_s if wait_s is None else wait_s):
            log.warning("reply %d still running %.1f s after its cancel", job.turn_id, self._cfg.join_timeout_s)
            self._emit(EngineError(ErrorKind.INTERNAL, f"The previous reply did not stop within "
                                   f"{self._cfg.join_timeout_s:g} s; the next one starts as soon as it has."))
        if self._job is not job:
            return
        self._job = None
        ended, out = job.summarize(self._playout.stats(), self._audio.output_rate_hz, self._audio.output_latency_s)
        self.conversation.add_assistant(ended.heard_text)
        self._emit(ended)
        if self._early is not None and self._early[0] == job.turn_id and not ended.interrupted:
            self._early = None  # its reply was heard whole: speech from now on is a new turn
        if out.error:
            kind = ErrorKind.MODEL if out.error_source == "model" else ErrorKind.VOCODER
            self._emit(EngineError(kind, _failure_message(out.error_source, out.error, ended.played_s)))
        if ended.played_s > 0:  # an echo tail only after sound (speech heard meanwhile stays one turn)
            self._mic_open_t = time.monotonic() + ECHO_TAIL_MS / 1000
        if self.state in REPLYING:
            self.set_state(EngineState.LISTENING, "reply_done")


def _failure_message(source: str, error: str, played_s: float) -> str:
    if played_s > 0:
        return (
            f"The {source} failed mid-reply ({error}); what was heard is kept in the history — just speak "
            f"again (run with -v for details)."
        )
    return f"The {source} could not produce a reply ({error}); speak again, or run with -v for details."
