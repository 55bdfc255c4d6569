"""Headless realtime engine: microphone -> VAD turn detection -> model -> vocoder -> speaker, with barge-in.

Threads (all stoppable, joined with timeouts by `stop()`):
  PortAudio input callback  -> copies blocks into a bounded queue (drops counted)
  engine-capture            -> resample to 16 kHz, 512-sample frames, VAD, TurnDetector, levels, barge-in
  reply<N>-model / -vocoder -> one ReplyJob per turn (core.engine.reply_job)
  PortAudio output callback <- PlayoutBuffer (jitter buffer)
  engine-supervisor         -> THINKING->SPEAKING on the first played sample, reply completion, device loss
  engine-events             -> delivers events to the sink, in order, on one thread

States: IDLE -(start)-> LISTENING -(turn)-> THINKING -(first sample played)-> SPEAKING -(played out)->
LISTENING;
barge-in: THINKING/SPEAKING -> LISTENING; device loss or stop(): any -> IDLE.

Speculative turn start (`VadConfig.speculate_after_ms`, core.engine.speculation): on a short pause while LISTENING with
no reply running, a held ReplyJob starts on the turn so far; the turn's dispatch adopts it when its audio is the
same, otherwise (the user went on, a typed turn, stop) it is cancelled and dropped unseen.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from core.audio.devices import MicCapture, SpeakerOutput
from core.audio.playout import PlayoutBuffer
from core.engine import continuation
from core.engine.config import VAD_RATE_HZ, EngineConfig
from core.engine.events import (
    BargeIn,
    EngineError,
    EngineState,
    ErrorKind,
    StateChanged,
    UserTextSubmitted,
    UserTurnCaptured,
)
from core.engine.reply_job import ReplyJob
from core.engine.speculation import Speculation, SpeculationSlot
from core.engine.worker import Worker
from core.turns.capture import CaptureHooks, CaptureLoop
from core.turns.vad import SileroVad, Turn, frames_to_s
from models.errors import DeviceError, UserError

log = logging.getLogger(__name__)

TICK_S = 0.02  # supervisor period
ECHO_TAIL_MS = 150.0  # half-duplex: keep ignoring the mic this long after playback ends
_STOP = object()


class Engine:
    """See module doc. `sink(event)` is called on the engine-events thread; `queue.Queue().put` works too."""

    def __init__(
        self,
        runner: Any,
        decoder: Any,
        *,
        config: EngineConfig | None = None,
        sink: Callable[[object], None] | None = None,
        audio: Any = None,
        conversation: Any = None,
        sampling: Any = None,
        vad: Any = None,
        first_turn_id: int = 1,
        end_of_turn: Any = None,
        end_of_turn_text: Callable[[float], float | None] | None = None,
    ) -> None:
        self.config = config or EngineConfig()
        self._runner, self._decoder, self._sampling = runner, decoder, sampling
        self._sink = sink
        self._audio = audio
        self.conversation = conversation if conversation is not None else _new_conversation()
        self._vad = vad
        self._end_of_turn = end_of_turn  # Smart Turn scorer (core.turns.smart_turn) or None: the VAD's silence
        self._end_of_turn_text = end_of_turn_text  # P(utterance over | partial transcript), None when unknown
        self._early: tuple[int, Any, np.ndarray] | None = None  # (turn id, history turn, samples) of an early commit
        self.transcript: list[dict] = []  # {"role", "turn_id", "text" | "audio_s", ...}: the conversation log
        self._lock = threading.RLock()
        self._state = EngineState.IDLE
        self._turn_id = first_turn_id - 1  # a session that replaces its engine continues the numbering
        self._job: ReplyJob | None = None
        self._spec = SpeculationSlot(self.config.join_timeout_s)  # a reply computed before its turn ended
        self._reply_workers: tuple[Worker, Worker] | None = None  # (model, vocoder), long-lived while started
        self._events: queue.Queue = queue.Queue()
        self._dispatcher: threading.Thread | None = None
        self._workers: list[threading.Thread] = []
        self._running = threading.Event()
        self._capture: MicCapture | None = None
        self._speaker: SpeakerOutput | None = None
        self._playout = PlayoutBuffer(0)
        self._mic_open_t = 0.0
        self._opening = ErrorKind.OUTPUT_DEVICE
        self.capture_loop: CaptureLoop | None = None
        self._drain_job: ReplyJob | None = None
        self._retired_workers: list[Worker] = []
        self._drain_since = 0.0

    # -- public API ----------------------------------------------------------------------------------------
    @property
    def state(self) -> EngineState:
        return self._state

    @property
    def last_turn_id(self) -> int:
        """The last turn id handed out (0 before the first turn of a fresh numbering)."""
        return self._turn_id

    def skip_turn_ids(self, last_used: int) -> None:
        """Turn ids up to `last_used` are taken (a restored conversation): the next turn gets a higher one."""
        with self._lock:
            self._turn_id = max(self._turn_id, last_used)

    @property
    def dropped_input_blocks(self) -> int:
        return self._capture.dropped_blocks if self._capture else 0

    @property
    def output_latency_s(self) -> float:
        """PortAudio's reported output latency (played-to-audible), 0 when no output is open."""
        return self._speaker.latency_s if self._speaker else 0.0

    def start(self) -> None:
        """Open devices and start listening. Raises DeviceError (also emitted as a fatal EngineError)."""
        with self._lock:
            if self._state is not EngineState.IDLE:
                return
            self._start_dispatcher()
            try:
                self._open_devices()
            except DeviceError as err:
                self._close_devices()
                self._emit(EngineError(self._opening, str(err), fatal=True))
                raise
            self._running.set()
            self._reply_workers = (Worker("reply-model"), Worker("reply-vocoder"))
            hooks = CaptureHooks(
                self._emit, self._dispatch, self._barge_in, self._mic_live, self._speculate, self._drop_speculation,
                self._continued,
            )
            self.capture_loop = CaptureLoop(self._capture, self._vad, self.config, hooks, self._end_of_turn,
                                            self._end_of_turn_text)
            self._workers = [
                threading.Thread(
                    target=self.capture_loop.run, args=(self._running,), name="engine-capture", daemon=True
                ),
                threading.Thread(target=self._supervise_main, name="engine-supervisor", daemon=True),
            ]
            for t in self._workers:
                t.start()
            self._set_state(EngineState.LISTENING, "started")

    def stop(self) -> None:
        """Stop everything: cancel any reply (history keeps what was heard), close devices, join threads."""
        self._shutdown(EngineState.IDLE, "stopped")
        if self._dispatcher is not None:
            self._events.put(_STOP)
            self._dispatcher.join(self.config.join_timeout_s)
            self._dispatcher = None

    def interrupt(self) -> None:
        """Stop the current reply as a barge-in would (a stop button), without starting a new turn."""
        self._barge_in(0.0, None)

    def submit_turn(self, samples_16k: np.ndarray) -> int:
        """Dispatch a user turn directly (push-to-talk, tests, benchmarks). Returns its turn id, or -1 if the
        clip was rejected (an EngineError says why). The engine must be started (audio is played)."""
        if self._state is EngineState.IDLE:
            raise RuntimeError("submit_turn() needs a started engine (call start() first)")
        turn = Turn(np.asarray(samples_16k, np.float32).reshape(-1), 0, 0, 0, "submitted")
        return self._dispatch(turn, time.monotonic())

    def submit_text(self, text: str) -> int:
        """Dispatch a typed user turn (a text box instead of speech). Returns its turn id, -1 if unusable."""
        with self._lock:
            self._cancel_current_reply()
            try:
                self.conversation.add_user_text(text)
            except UserError as err:
                self._emit(EngineError(ErrorKind.INPUT_SIGNAL, f"That message could not be used ({err})."))
                return -1
            self._turn_id += 1
            tid = self._turn_id
            self._emit(UserTextSubmitted(tid, text, time.monotonic()))
            self.transcript.append({"role": "user", "turn_id": tid, "text": text, "reason": "typed"})
            self._start_reply(tid)
            return tid

    def __enter__(self) -> Engine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- plumbing ------------------------------------------------------------------------------------------
    def _emit(self, event: object) -> None:
        self._events.put(event)

    def _start_dispatcher(self) -> None:
        if self._dispatcher is None or not self._dispatcher.is_alive():
            self._dispatcher = threading.Thread(target=self._dispatch_main, name="engine-events", daemon=True)
            self._dispatcher.start()

    def _dispatch_main(self) -> None:
        while True:
            event = self._events.get()
            if event is _STOP:
                return
            if self._sink is None:
                continue
            try:
                self._sink(event)
            except Exception:  # a broken front end must not stop the engine
                log.exception("event sink raised on %s", type(event).__name__)

    def _set_state(self, new: EngineState, reason: str) -> None:
        with self._lock:
            old, self._state = self._state, new
        if old is not new:
            log.info("state %s -> %s (%s)", old.value, new.value, reason)
            self._emit(StateChanged(old, new, reason))

    def _open_devices(self) -> None:
        if self._audio is None:
            import sounddevice  # deferred: PortAudio enumerates devices once, at import

            self._audio = sounddevice
        a = self.config.audio
        if self._vad is None:
            self._vad = SileroVad()
        self._vad.reset()
        self._opening = ErrorKind.OUTPUT_DEVICE  # which device a DeviceError is about
        self._speaker = SpeakerOutput(self._audio, a.output_device, a.output_rate_hz, a.output_block_ms, self._playout)
        self._speaker.open()
        # a decoder planned from this machine's speed says how deep the jitter buffer must be (app/playback_plan.py)
        prebuffer_ms = getattr(self._decoder, "prebuffer_ms", None) or a.prebuffer_ms
        self._playout.set_prebuffer(int(self._speaker.rate_hz * prebuffer_ms / 1000))
        self._opening = ErrorKind.INPUT_DEVICE
        self._capture = MicCapture(self._audio, a.input_device, a.input_rate_hz, a.input_block_ms, a.input_queue_blocks)
        self._capture.open()
        if not self._capture.first_block.wait(a.open_timeout_s):
            raise DeviceError(
                f"Input device {self._capture.name!r} opened but delivered no audio within "
                f"{a.open_timeout_s:g} s; check the device or the sound server."
            )

    def _close_devices(self) -> None:
        for dev in (self._capture, self._speaker):
            if dev is not None:
                dev.close()

    def _mic_live(self) -> bool:
        if self.config.barge_in:
            return True
        # half-duplex: also live while the reply is computed and nothing plays yet (no echo to hear), so speech
        # that goes on after an early commit is heard
        listening = self._state in (EngineState.LISTENING, EngineState.THINKING)
        return listening and time.monotonic() >= self._mic_open_t

    # -- turns ---------------------------------------------------------------------------------------------
    def _dispatch(self, turn: Turn, speech_end_t: float | None) -> int:
        with self._lock:
            spec = self._spec.take(turn.samples) if self._job is None and not turn.continues else None
            adopt = spec is not None
            self._cancel_current_reply()
            continues, turn = continuation.merge(self, turn)
            try:
                if adopt:
                    user = self.conversation.append(spec.user_turn)
                else:
                    user = self.conversation.add_user_audio(turn.samples)
            except UserError as err:
                self._emit(
                    EngineError(ErrorKind.INPUT_SIGNAL, f"That turn could not be used ({err}); please say it again.")
                )
                return -1
            self._turn_id += 1
            tid = self._turn_id
            self._early = (tid, user, turn.samples) if turn.reason == "semantic" else None
            self._report_turn(tid, turn, speech_end_t, continues)
            if adopt:
                self._adopt(spec, tid)
            else:
                self._start_reply(tid)
            return tid

    def _report_turn(self, tid: int, turn: Turn, speech_end_t: float | None, continues: int | None = None) -> None:
        frames = (frames_to_s(turn.start_frame), frames_to_s(turn.speech_end_frame), frames_to_s(turn.end_frame))
        now = time.monotonic()
        self._emit(UserTurnCaptured(tid, turn.samples, VAD_RATE_HZ, *frames, turn.reason, speech_end_t, now,
                                    continues))
        audio_s = turn.samples.size / VAD_RATE_HZ
        self.transcript.append({"role": "user", "turn_id": tid, "audio_s": audio_s, "reason": turn.reason,
                                "continues_turn": continues})
        if turn.reason == "max_length":
            limit_s = self.config.vad.max_turn_ms / 1000
            msg = f"The turn reached the {limit_s:g} s maximum and was cut there; pause sooner, or raise max_turn_ms."
            self._emit(EngineError(ErrorKind.INPUT_SIGNAL, msg))

    def _cancel_current_reply(self) -> None:
        self._drop_speculation()
        if self._job is not None:
            self._barge_in(0.0, None)
            self._finalize(self._job, wait=True)

    def _new_job(self, tid: int, conversation: Any, held: bool) -> ReplyJob:
        """A reply job; dropped speculative jobs are joined first (one job at a time uses the runner)."""
        self._spec.join_dropped()
        if self._reply_workers is not None:  # a job that outlived its cancel keeps its workers; take new ones
            old, self._reply_workers = self._reply_workers, tuple(w.replace_if_busy() for w in self._reply_workers)
            self._retired_workers += [w for w in old if w not in self._reply_workers]  # joined by stop()
        out_rate = self._speaker.rate_hz if self._speaker else 48000
        return ReplyJob(
            tid, self._runner, conversation, self._sampling, self._decoder, self._playout, out_rate, self._emit,
            self.config.first_chunk_priority, held=held, workers=self._reply_workers,
        )

    def _start_reply(self, tid: int) -> None:
        self._set_state(EngineState.THINKING, "turn_captured")
        self._job = self._new_job(tid, self.conversation, held=False)
        self._job.start()

    # -- speculative turn start (core.engine.speculation) ---------------------------------------------------------
    def _speculate(self, turn: Turn, speech_end_t: float | None) -> None:
        """Capture thread, on a short pause: compute the reply to the turn so far, held back."""
        with self._lock:
            self._spec.drop()
            if self._job is not None or self._state is not EngineState.LISTENING:
                return
            try:
                user = self.conversation.user_audio_turn(turn.samples)
            except UserError:
                return  # the dispatched turn reports it
            job = self._new_job(self._turn_id + 1, self.conversation.extended(user), held=True)
            self._spec.set(Speculation(turn.samples, user, job, time.monotonic()))
            log.debug("speculative reply %d started on %.2f s of audio", job.turn_id, turn.samples.size / VAD_RATE_HZ)
            job.start()

    def _drop_speculation(self) -> None:
        """The user went on (or a turn came another way): cancel the speculative reply, unseen and unheard."""
        with self._lock:
            self._spec.drop()

    def _adopt(self, spec: Speculation, tid: int) -> None:
        if spec.job.turn_id != tid:
            raise RuntimeError(f"speculative reply {spec.job.turn_id} adopted as turn {tid}")
        self._set_state(EngineState.THINKING, "turn_captured")
        self._job = spec.job
        spec.job.commit()
        log.info("turn %d: speculative reply adopted (%.0f ms head start)", tid,
                 1000 * (time.monotonic() - spec.started_t))

    def _continued(self) -> None:
        """Capture thread: the user went on after an early commit: stop its reply at once (barge-in path)."""
        with self._lock:
            if self._early is not None and self._job is not None and self._job.turn_id == self._early[0]:
                self._barge_in(self.config.vad.min_speech_ms, None)

    def _barge_in(self, speech_ms: float, speech_start_t: float | None) -> None:
        with self._lock:
            job = self._job
            if job is None or job.cancelled:
                return
            job.cancel()  # playback silent from the next output callback; generation cancelled
            log.info("barge-in on reply %d after %.0f ms of speech", job.turn_id, speech_ms)
            self._emit(BargeIn(job.turn_id, speech_ms, speech_start_t, time.monotonic()))
            self._set_state(EngineState.LISTENING, "barge_in" if speech_ms > 0 else "interrupted")

    def _finalize(self, job: ReplyJob, wait: bool = False, wait_s: float | None = None) -> None:
        """Reply over (played out, cancelled or failed): clip history to what was heard, report, listen."""
        if wait and not job.join(self.config.join_timeout_s if wait_s is None else wait_s):
            log.warning("reply %d threads still running after cancel; abandoning them", job.turn_id)
        with self._lock:
            if self._job is not job:
                return
            self._job = None
            st = self._playout.stats()
            out_rate = self._speaker.rate_hz if self._speaker else 1
            latency_s = self._speaker.latency_s if self._speaker else 0.0
            ended, out = job.summarize(st, out_rate, latency_s)
            self.conversation.add_assistant(ended.heard_text)
            self.transcript.append({"role": "assistant", "turn_id": job.turn_id, "text": ended.text,
                                    "heard_text": ended.heard_text, "reason": ended.reason.value,
                                    "interrupted": ended.interrupted})
            self._emit(ended)
            if self._early is not None and self._early[0] == job.turn_id and not ended.interrupted:
                self._early = None  # its reply was heard whole: speech from now on is a new turn
            if out.error:
                kind = ErrorKind.MODEL if out.error_source == "model" else ErrorKind.VOCODER
                self._emit(EngineError(kind, _failure_message(out.error_source, out.error, ended.played_s)))
            if ended.played_s > 0:  # an echo tail only after sound (speech heard meanwhile stays one turn)
                self._mic_open_t = time.monotonic() + ECHO_TAIL_MS / 1000
            if self._state in (EngineState.THINKING, EngineState.SPEAKING):
                self._set_state(EngineState.LISTENING, "reply_done")

    # -- supervisor thread ---------------------------------------------------------------------------------
    def _supervise_main(self) -> None:
        while self._running.wait(0) and not self._check_devices():
            job = self._job
            if job is not None:
                if (
                    self._state is EngineState.THINKING
                    and self._playout.wait_first_play(0)
                    and self._playout.stats().reply_id == job.turn_id
                    and not job.cancelled
                ):
                    self._set_state(EngineState.SPEAKING, "first_audio")
                if job.finished() and (self._playout.wait_done(0) or self._drain_overdue(job)):
                    self._finalize(job)
            time.sleep(TICK_S)

    def _drain_overdue(self, job: ReplyJob) -> bool:
        """The reply is computed but playback has not drained `drain_timeout_s` past what is buffered."""
        now = time.monotonic()
        if self._drain_job is not job:
            self._drain_job, self._drain_since = job, now
            return False
        st = self._playout.stats()
        rate = self._speaker.rate_hz if self._speaker else 1
        buffered_s = max(0, st.written - st.played) / max(1, rate) if st.reply_id == job.turn_id else 0.0
        if now - self._drain_since <= buffered_s + self.config.drain_timeout_s:
            return False
        log.warning("reply %d: playback did not drain within %.1f s; ending the reply", job.turn_id,
                    self.config.drain_timeout_s)
        self._playout.stop()
        return True

    def _check_devices(self) -> bool:
        """True (and the engine torn down to IDLE) if a device vanished."""
        for dev, kind, label in (
            (self._capture, ErrorKind.INPUT_DEVICE, "input"),
            (self._speaker, ErrorKind.OUTPUT_DEVICE, "output"),
        ):
            stalled_s = dev.stalled_s(self.config.audio.stall_timeout_s) if dev is not None else 0.0
            if dev is not None and (dev.lost.is_set() or not dev.active or stalled_s):
                what = f"stopped delivering audio {stalled_s:.1f} s ago" if stalled_s else "stopped"
                log.warning("%s device %r lost (%s)", label, dev.name, what)
                self._emit(
                    EngineError(
                        kind,
                        f"The {label} device {dev.name!r} {what} (unplugged, or the sound "
                        f"server went away); reconnect it, then start again.",
                        fatal=True,
                    )
                )
                threading.Thread(
                    target=self._shutdown,
                    args=(EngineState.IDLE, f"{label}_device_lost"),
                    name="engine-teardown",
                    daemon=True,
                ).start()
                return True
        return False

    def _shutdown(self, final: EngineState, reason: str) -> None:
        self._running.clear()
        me = threading.current_thread()
        for t in self._workers:
            if t is not me:
                t.join(self.config.join_timeout_s)
                if t.is_alive():
                    log.warning("thread %s did not stop within %.1f s", t.name, self.config.join_timeout_s)
        self._drop_speculation()
        job = self._job
        if job is not None:
            job.cancel()  # effective within one decode step / vocoder push: wait for it (threads must not
            self._finalize(job, wait=True, wait_s=self.config.stop_timeout_s)  # outlive the engine)
        with self._lock:
            self._spec.join_dropped()
            workers, self._reply_workers = [*(self._reply_workers or ()), *self._retired_workers], None
            self._retired_workers = []
        for worker in workers:
            worker.close()
        for worker in workers:
            if not worker.join(self.config.stop_timeout_s):
                log.warning("worker %s did not end within %.0f s", worker.name, self.config.stop_timeout_s)
        with self._lock:
            self._close_devices()
            self._capture = self._speaker = None
            self.capture_loop = None  # its resampler and VAD state belong to the closed devices
            self._set_state(final, reason)


def _failure_message(source: str, error: str, played_s: float) -> str:
    if played_s > 0:
        return (
            f"The {source} failed mid-reply ({error}); what was heard is kept in the history — just speak "
            f"again (run with -v for details)."
        )
    return f"The {source} could not produce a reply ({error}); speak again, or run with -v for details."


def _new_conversation() -> Any:
    from core.lm.conversation import Conversation  # the runner's history type (docs/contracts.md)

    return Conversation()
