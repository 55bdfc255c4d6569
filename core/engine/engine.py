"""Headless realtime engine: microphone -> VAD turn detection -> model -> vocoder -> speaker, with barge-in.

Threads (docs/architecture.md has the picture; all stoppable, joined with timeouts by `stop()`):
  PortAudio input callback  -> copies blocks into a bounded queue (drops counted)
  engine-capture            -> resample to 16 kHz, 512-sample frames, VAD, TurnDetector, levels; posts decisions
                               (turn ended, barge-in, speculation candidate / resumed) and never waits for them
  engine-replies            -> the only thread that cancels, joins, starts and finalizes reply jobs
                               (core.engine.reply_control); sleeps on its queue between events
  reply-model / -vocoder    -> the two loops of each ReplyJob, one job at a time per model (core.engine.worker)
  PortAudio output callback <- PlayoutBuffer (jitter buffer); posts "first sample played" / "reply played out"
  engine-events             -> delivers events to the sink, in order, on one thread

States: IDLE -(start)-> LISTENING -(turn)-> THINKING -(first sample played)-> SPEAKING -(played out)->
LISTENING; barge-in: THINKING/SPEAKING -> LISTENING; device loss or stop(): any -> IDLE.

Duplex (core.audio.duplex, resolved at start from the output device): in the "speakers" mode the output callback
also hands each played block to the echo canceller's reference and the capture thread cancels the echo before the
VAD; in full duplex, speech over a reply pauses it, then stops it or, after a backchannel, resumes it.

Speculative turn start (`VadConfig.speculate_after_ms`, core.engine.speculation): on a short pause while LISTENING
with no reply running, a held ReplyJob starts on the turn so far; the turn's dispatch adopts it when its audio is
the same, otherwise (the user went on, a typed turn, stop) it is cancelled and dropped unseen.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from core.audio.backend import AudioBackend
from core.audio.duplex import DuplexMode
from core.audio.playout import PlayoutBuffer
from core.engine.audio_io import EngineAudio
from core.engine.config import EngineConfig
from core.engine.control import ControlThread
from core.engine.event_pump import EventPump
from core.engine.events import DuplexResolved, EngineError, EngineEvent, EngineState, ErrorKind, engine_event
from core.engine.reply_control import REPLYING, ReplyControl, ReplyModels
from core.engine.worker import Worker
from core.lm.sampling import SamplingConfig
from core.seams import History, ModelRunner, VoiceSynthesizer
from core.turns.capture import CaptureHooks, CaptureLoop
from core.turns.semantic import TurnScorer
from core.turns.vad import SileroVad, SpeechDetector, Turn
from core.voice.schedule_plan import PlaybackPlan
from models.errors import DeviceError

log = logging.getLogger(__name__)

WATCHDOG_S = 0.5  # the control thread checks for stalls after this long without an event


class Engine:
    """See module doc. `sink(event)` gets every `EngineEvent`, on the engine-events thread; `queue.Queue().put`
    works too."""

    def __init__(
        self,
        runner: ModelRunner,
        vocoder: VoiceSynthesizer,
        *,
        playback: PlaybackPlan | None = None,
        config: EngineConfig | None = None,
        sink: Callable[[EngineEvent], None] | None = None,
        audio: AudioBackend | None = None,
        conversation: History | None = None,
        sampling: SamplingConfig | None = None,
        vad: SpeechDetector | None = None,
        first_turn_id: int = 1,
        end_of_turn: TurnScorer | None = None,
        end_of_turn_text: Callable[[float], float | None] | None = None,
        mic_tap: Callable[[np.ndarray, np.ndarray], None] | None = None,
    ) -> None:
        """mic_tap(raw, cleaned): the microphone at 16 kHz before and after echo cancellation, on the capture
        thread as it comes (the recorder's debug option, benchmarks); it must only copy."""
        self.config = config or EngineConfig()
        self._mic_tap = mic_tap
        self._vad = vad
        self._end_of_turn = end_of_turn  # Smart Turn scorer (core.turns.smart_turn) or None: the VAD's silence
        self._end_of_turn_text = end_of_turn_text  # P(utterance over | partial transcript), None when unknown
        self._lifecycle = threading.Lock()  # start() / stop() from front-end threads; never taken by capture
        self._events = EventPump(sink)
        self._playout = PlayoutBuffer(0)
        # playback: the vocoder's chunk schedule, noise seed and jitter buffer (a plan measured on this machine says
        # how deep the buffer must be: app/playback_plan.py; None: the engine's AudioConfig.prebuffer_ms)
        playback = playback or PlaybackPlan()
        self._audio = EngineAudio(audio, self.config.audio, self._playout, playback.prebuffer_ms,
                                  duplex=self.config.duplex, echo=self.config.echo)
        self._control: ControlThread | None = None
        self._replies = ReplyControl(
            ReplyModels(runner, vocoder, playback, sampling),
            conversation if conversation is not None else _new_conversation(),
            self.config, self._playout, self._audio, self._events.put, self._job_done,
        )
        self._replies.skip_turn_ids(first_turn_id - 1)  # a session that replaces its engine continues the numbering
        self._running = threading.Event()
        self._capture_thread: threading.Thread | None = None
        self.capture_loop: CaptureLoop | None = None

    # -- public API ----------------------------------------------------------------------------------------
    @property
    def state(self) -> EngineState:
        return self._replies.state

    @property
    def last_turn_id(self) -> int:
        """The last turn id handed out (0 before the first turn of a fresh numbering)."""
        return self._replies.turn_id

    def skip_turn_ids(self, last_used: int) -> None:
        """Turn ids up to `last_used` are taken (a restored conversation): the next turn gets a higher one."""
        if self._control is not None and self._control.alive:
            self._control.call(self._replies.skip_turn_ids, last_used)
        else:
            self._replies.skip_turn_ids(last_used)

    @property
    def duplex(self) -> DuplexMode:
        """The mode this engine runs in (resolved at start from `config.duplex`; HALF before)."""
        return self._audio.duplex

    @property
    def conversation(self) -> History:
        return self._replies.conversation

    @property
    def dropped_input_blocks(self) -> int:
        return self._audio.dropped_input_blocks

    @property
    def output_latency_s(self) -> float:
        """PortAudio's reported output latency (played-to-audible), 0 when no output is open."""
        return self._audio.output_latency_s

    def start(self) -> None:
        """Open devices and start listening. Raises DeviceError (also emitted as a fatal EngineError)."""
        with self._lifecycle:
            if self.state is not EngineState.IDLE:
                return
            self._events.start()
            if self._vad is None:
                self._vad = SileroVad()
            self._vad.reset()
            try:
                self._audio.open(self._device_lost)
            except DeviceError as err:
                self._audio.close()
                self._events.put(EngineError(self._audio.opening, str(err), fatal=True))
                raise
            self._playout.set_listener(self._post_progress)
            mode = self._audio.duplex
            self._events.put(DuplexResolved(mode.value, self._audio.duplex_reason))
            running = dataclasses.replace(self.config, duplex=mode.value)  # "auto" resolved for the turn stage
            self._replies.full_duplex = mode.full
            self._control = ControlThread(idle_s=WATCHDOG_S, on_idle=self._watchdog)
            self._control.start()
            self._replies.workers = (Worker("reply-model"), Worker("reply-vocoder"))
            self._running.set()
            self.capture_loop = CaptureLoop(self._audio.capture, self._vad, running, self.config.levels,
                                            self._capture_hooks(), self._end_of_turn, self._end_of_turn_text,
                                            echo=self._audio.echo_canceller())
            self._capture_thread = threading.Thread(
                target=self.capture_loop.run, args=(self._running,), name="engine-capture", daemon=True
            )
            self._capture_thread.start()
            self._control.call(self._replies.set_state, EngineState.LISTENING, "started")

    def stop(self) -> None:
        """Stop everything: cancel any reply (history keeps what was heard), close devices, join threads."""
        with self._lifecycle:
            control = self._control
            if control is not None:
                try:
                    control.call(self._shutdown, EngineState.IDLE, "stopped")
                except RuntimeError:  # it had already shut down (device loss)
                    pass
                control.join(self.config.join_timeout_s)
            self._events.stop(self.config.join_timeout_s)

    def interrupt(self) -> None:
        """Stop the current reply as a barge-in would (a stop button), without starting a new turn."""
        if self._control is not None and self.state is not EngineState.IDLE:
            try:
                self._control.call(self._replies.on_stop)
            except RuntimeError:  # the engine stopped meanwhile (device loss): nothing to interrupt
                pass

    def submit_turn(self, samples_16k: np.ndarray) -> int:
        """Dispatch a user turn directly (push-to-talk, tests, benchmarks). Returns its turn id, or -1 if the
        clip was rejected (an EngineError says why). The engine must be started (audio is played)."""
        if self.state is EngineState.IDLE or self._control is None:
            raise RuntimeError("submit_turn() needs a started engine (call start() first)")
        turn = Turn(np.asarray(samples_16k, np.float32).reshape(-1), 0, 0, 0, "submitted")
        return self._control.call(self._replies.on_turn, turn, time.monotonic())

    def submit_text(self, text: str) -> int:
        """Dispatch a typed user turn (a text box instead of speech). Returns its turn id, -1 if unusable."""
        if self.state is EngineState.IDLE or self._control is None:
            raise RuntimeError("submit_text() needs a started engine (call start() first)")
        return self._control.call(self._replies.on_text, text)

    def __enter__(self) -> Engine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- posting to the control thread (any thread; never blocks) -------------------------------------------
    def _post(self, fn: Callable[..., object], *args: object) -> None:
        control = self._control
        if control is not None:
            control.post(fn, *args)

    def _capture_hooks(self) -> CaptureHooks:
        r = self._replies
        return CaptureHooks(
            emit=lambda ev: self._events.put(engine_event(ev)),
            dispatch=lambda turn, t: self._post(r.on_turn, turn, t),
            barge_in=self._barge_in_heard,
            mic_live=r.mic_live,
            speculate=lambda turn, t: self._post(r.on_candidate, turn, t),
            resume=lambda: self._post(r.on_resumed),
            continued=lambda: self._post(r.on_continued),
            replying=lambda: r.state in REPLYING,
            pause=lambda ms, t: self._post(r.on_pause, ms, t),
            backchannel=lambda ms: self._post(r.on_backchannel, ms),
            mic_tap=self._mic_tap,
        )

    def _barge_in_heard(self, speech_ms: float, speech_start_t: float | None) -> None:
        if self.state in REPLYING:  # the capture thread reports speech every frame; only a reply cares
            self._post(self._replies.on_barge_in, speech_ms, speech_start_t)

    def _post_progress(self, *_: object) -> None:
        self._post(self._replies.on_progress)

    def _job_done(self, job: object) -> None:
        self._post(self._replies.on_progress)

    def _device_lost(self, kind: ErrorKind) -> None:
        self._post(self._on_device_lost, kind)

    # -- control thread -------------------------------------------------------------------------------------
    def _watchdog(self) -> None:
        """After WATCHDOG_S without any event: what produces no event (a stream that stays active but stopped
        calling back; playback that never drains) is checked here."""
        stalled = self._audio.stalled(self.config.audio.stall_timeout_s)
        if stalled is not None:
            self._on_device_lost(*stalled)
            return
        self._replies.check_drain(self.config.drain_timeout_s)

    def _on_device_lost(self, kind: ErrorKind, stalled_s: float = 0.0) -> None:
        if self.state is EngineState.IDLE:
            return
        label = "input" if kind is ErrorKind.INPUT_DEVICE else "output"
        name = self._audio.name(kind)
        what = f"stopped delivering audio {stalled_s:.1f} s ago" if stalled_s else "stopped"
        log.warning("%s device %r lost (%s)", label, name, what)
        self._events.put(EngineError(
            kind, f"The {label} device {name!r} {what} (unplugged, or the sound server went away); reconnect it, "
                  f"then start again.", fatal=True,
        ))
        self._shutdown(EngineState.IDLE, f"{label}_device_lost")

    def _shutdown(self, final: EngineState, reason: str) -> None:
        self._running.clear()
        if self._capture_thread is not None:  # the capture thread never waits for this one: joining is safe
            self._capture_thread.join(self.config.join_timeout_s)
            if self._capture_thread.is_alive():
                log.warning("the capture thread did not stop within %.1f s", self.config.join_timeout_s)
            self._capture_thread = None
        self._replies.stop_replies(self.config.stop_timeout_s)  # threads must not outlive the engine
        workers, self._replies.workers = self._replies.workers or (), None
        for worker in workers:
            worker.close()
        for worker in workers:
            if not worker.join(self.config.stop_timeout_s):
                log.warning("worker %s did not end within %.0f s", worker.name, self.config.stop_timeout_s)
        self._playout.set_listener(None)
        self._audio.close()
        self.capture_loop = None  # its resampler and VAD state belong to the closed devices
        self._replies.set_state(final, reason)
        if self._control is not None:
            self._control.finish()


def _new_conversation() -> History:
    from core.lm.conversation import Conversation  # the runner's history type (docs/contracts.md)

    return Conversation()
