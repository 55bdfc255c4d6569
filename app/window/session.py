"""The window's engine session: owns the Engine and the listeners, runs every engine call off the GUI thread.

Threads: engine calls that may block (start, stop, submit, new conversation) run on one `engine-control`
worker, in order. Engine and listener events arrive on their own threads; the sink forwards them to the
listeners (which only enqueue) and emits `_incoming`, a signal connected with a *queued* connection, so
`event` is always emitted on the GUI thread. The GUI thread never runs model, VAD or vocoder work.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from app.settings import AppSettings
from app.window.end_of_turn import SessionEndOfTurn
from app.window.partial_feed import PartialFeed
from app.window.talk_vad import TalkVad
from core.audio.backend import AudioBackend
from core.engine.events import EngineError, EngineState, ErrorKind
from core.listeners.bridge import ListenerBridge
from core.listeners.events import ASR
from core.turns.config import VAD_RATE_HZ
from models.errors import DeviceError, UserError
from models.special_tokens import DEFAULT_SYSTEM_PROMPT

log = logging.getLogger(__name__)

MIN_PTT_S = 0.3


@dataclass(frozen=True)
class AudioFallback:
    """The sound devices could not be opened: the session runs text-only on a silent backend."""

    reason: str  # the device error, one line
SHUTDOWN_TIMEOUT_S = 60.0  # engine stop waits for a cancelled reply (one step) and its threads


class Session(QObject):
    """See module doc. `event(obj)`: every engine / listener event, on the GUI thread."""

    event = Signal(object)
    _incoming = Signal(object)

    def __init__(self, settings: AppSettings, audio: AudioBackend | None = None,
                 make_vad: Callable[[], Any] | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        from core.lm.conversation import Conversation

        self.settings = settings
        self.audio = audio
        self._real_audio = audio
        self.text_only = False
        self._generation = itertools.count(1)
        self._live_generation = 0
        self.talk_vad = TalkVad(make_vad, settings.config().engine.vad.max_turn_ms / 1000)
        self.talk_vad.set_push_to_talk(settings.push_to_talk)
        self.talk_vad.on_limit = self._talk_limit
        self.conversation = Conversation(settings.system_prompt or None)
        self.engine: Any = None
        self._models: tuple[Any, Any, Any] | None = None  # (runner, vocoder, playback plan)
        self.listeners: Any = None
        self.model_label = ""
        self._bridge = ListenerBridge(lambda: self.listeners)
        self._control = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine-control")
        self._closed = False
        self._turn_floor = 0  # turn ids a restored conversation already uses
        self._incoming.connect(self.event.emit, Qt.ConnectionType.QueuedConnection)
        self._partial = PartialFeed(lambda: self.listeners)
        self._eot = SessionEndOfTurn(self._incoming.emit, self._asr_running)
        self.talk_vad.set_tap(self._on_frame)

    # -- models and settings --------------------------------------------------------------------------------
    def set_models(self, runner: Any, vocoder: Any, playback: Any, label: str) -> Future:
        """Replace the model (the conversation carries over) and (re)start listening."""
        return self._submit(self._set_models, runner, vocoder, playback, label)

    def apply_settings(self, settings: AppSettings) -> Future:
        old, self.settings = self.settings, settings
        self.talk_vad.set_push_to_talk(settings.push_to_talk)
        return self._submit(self._apply_settings, old, settings)

    def reload_listeners(self) -> Future:
        """Reopen the listeners with the current settings (after their models were downloaded)."""
        return self._submit(self._reload_listeners)

    def _reload_listeners(self) -> None:
        if self.listeners is not None:
            self.listeners.close()
            self.listeners = self._make_listeners(self.settings)

    @property
    def has_model(self) -> bool:
        return self.engine is not None

    def listener_statuses(self) -> dict:
        return self.listeners.status() if self.listeners is not None else {}

    # -- the conversation -----------------------------------------------------------------------------------
    def submit_text(self, text: str) -> Future:
        return self._submit(self._with_engine, lambda eng: eng.submit_text(text))

    def submit_audio(self, samples_16k: Any) -> Future:
        return self._submit(self._with_engine, lambda eng: eng.submit_turn(samples_16k))

    def interrupt(self) -> Future:
        return self._submit(self._with_engine, lambda eng: eng.interrupt())

    def restore_history(self, turns: list[tuple[str, str, Any]], last_turn_id: int) -> Future:
        """Put a restored conversation back into the model's history: (role, text, 16 kHz audio or None) each."""
        return self._submit(self._restore_history, turns, last_turn_id)

    def _restore_history(self, turns: list[tuple[str, str, Any]], last_turn_id: int) -> None:
        for role, text, audio in turns:
            try:
                if role == "assistant":
                    self.conversation.add_assistant(text)
                elif audio is not None:
                    self.conversation.add_user_audio(audio)
                else:
                    self.conversation.add_user_text(text)
            except (UserError, ValueError) as err:
                log.info("restore: skipped a %s turn (%s)", role, err)
        self._turn_floor = max(self._turn_floor, last_turn_id)
        if self.engine is not None:
            self.engine.skip_turn_ids(last_turn_id)
        log.info("restore: the model's history is now %s", describe_history(self.conversation.turns))

    def new_conversation(self) -> Future:
        return self._submit(self._new_conversation)

    def hold_mic(self, on: bool) -> None:
        """The app plays another sound (a replayed turn): hands-free listening must not take it for the user."""
        self.talk_vad.hold(on)

    def talk_pressed(self) -> None:
        self.talk_vad.begin()

    def talk_released(self) -> Future | None:
        if self.talk_vad.limit_hit:  # the clip went at the cap already
            self.talk_vad.limit_hit = False
            return None
        clip = self.talk_vad.finish()
        if clip.size < MIN_PTT_S * VAD_RATE_HZ:
            self._incoming.emit(EngineError(ErrorKind.INPUT_SIGNAL, "Hold the talk button while you speak."))
            return None
        return self.submit_audio(clip)

    def _talk_limit(self) -> None:
        """Capture thread: a push-to-talk turn reached the turn cap; submit it as a hands-free turn would be."""
        clip = self.talk_vad.finish()
        limit_s = self.talk_vad.max_turn_s
        self._incoming.emit(EngineError(
            ErrorKind.INPUT_SIGNAL,
            f"The turn reached the {limit_s:g} s maximum and was cut there; release the talk key and press it again "
            "to go on."))
        self.submit_audio(clip)

    def shutdown(self, timeout_s: float = SHUTDOWN_TIMEOUT_S) -> bool:
        """Stop input -> processing -> output (engine.stop()), then the listeners. Bounded; True if clean."""
        if self._closed:
            return True
        self._closed = True
        fut = self._control.submit(self._stop_all)
        try:
            fut.result(timeout_s)
            ok = True
        except FutureTimeout:
            log.warning("engine did not stop within %.0f s; leaving its threads behind", timeout_s)
            ok = False
        self._control.shutdown(wait=False, cancel_futures=True)
        return ok

    # -- control thread ---------------------------------------------------------------------------------------
    def _submit(self, fn: Callable, *args: Any) -> Future:
        if self._closed:
            fut: Future = Future()
            fut.set_result(None)
            return fut
        fut = self._control.submit(fn, *args)
        fut.add_done_callback(_log_failure)
        return fut

    def _set_models(self, runner: Any, vocoder: Any, playback: Any, label: str) -> None:
        self._stop_engine()
        self._models = (runner, vocoder, playback)
        self.engine = self._make_engine(runner, vocoder, playback)
        self.model_label = label
        if self.listeners is None:
            self.listeners = self._make_listeners(self.settings)
        self._start_engine()

    def _apply_settings(self, old: AppSettings, new: AppSettings) -> None:
        self.audio, self.text_only = self._real_audio, False  # new device settings: try the real devices again
        self.conversation.system_prompt = new.system_prompt or DEFAULT_SYSTEM_PROMPT
        if new.config().listeners != old.config().listeners and self.listeners is not None:
            self.listeners.close()
            self.listeners = self._make_listeners(new)
        if self._models is not None:
            self._stop_engine()
            self.engine = self._make_engine(*self._models)
            self._start_engine()

    def _new_conversation(self) -> None:
        was_running = self.engine is not None and self.engine.state is not EngineState.IDLE
        if self.engine is not None:
            self.engine.stop()
        self.conversation.clear()
        self._bridge.clear()
        if was_running:
            self._start_engine()

    def _with_engine(self, action: Callable[[Any], Any]) -> Any:
        if self.engine is None:
            self._incoming.emit(EngineError(ErrorKind.MODEL, "No model is loaded yet: open or download one."))
            return None
        if self.engine.state is EngineState.IDLE and not self._start_engine():
            return None
        return action(self.engine)

    def _make_engine(self, runner: Any, vocoder: Any, playback: Any) -> Any:
        from app.assembly import Companion, EndOfTurn

        gen = self._live_generation = next(self._generation)
        last = self.engine.last_turn_id if self.engine is not None else 0
        first_turn_id = max(last, self._turn_floor) + 1  # ids never restart: the GUI log is keyed by them
        config = self.settings.config()  # settings change without a reload: the models stay, the config is new
        scorer = self._eot.scorer(config)
        self._eot.use_transcript(config.engine.transcript)
        companion = Companion(config, runner, vocoder, playback, EndOfTurn(scorer), audio=self.audio)
        return companion.engine(
            sink=lambda ev: self._sink(ev, gen),
            conversation=self.conversation,
            vad=self.talk_vad,
            first_turn_id=first_turn_id,
            end_of_turn_text=self._eot.text_prob,
        )

    def _make_listeners(self, settings: AppSettings) -> Any:
        from core.listeners.manager import Listeners

        return Listeners(settings.config().listeners, self._eot.tap(self._incoming.emit))

    def _start_engine(self) -> bool:
        try:
            if not self.text_only:
                self._probe_devices()
            self.engine.start()
            return True
        except DeviceError as err:
            if self.text_only or self._models is None:
                log.info("engine did not start: %s", err)
                return False
            return self._fall_back_to_text_only(err)
        except UserError as err:  # already reported to the sink as a fatal EngineError
            log.info("engine did not start: %s", err)
            return False

    def _probe_devices(self) -> None:
        """Raise DeviceError before the engine starts if there is no input or output device (or no PortAudio)."""
        from core.audio.devices import device_info

        if self.audio is None:
            try:
                import sounddevice  # deferred: PortAudio enumerates devices at import
            except OSError as err:  # the PortAudio library itself is missing
                raise DeviceError(f"No sound system is available ({err}).") from err
            self.audio = self._real_audio = sounddevice
        audio_cfg = self.settings.config().engine.audio
        device_info(self.audio, audio_cfg.input_device, "input")
        device_info(self.audio, audio_cfg.output_device, "output")

    def _fall_back_to_text_only(self, err: DeviceError) -> bool:
        """No usable sound device: keep the conversation going on a silent backend (typed turns work)."""
        from app.window.null_audio import NullAudio

        log.warning("no usable sound device (%s); switching to text-only mode", err)
        failed = self.engine
        self._live_generation = 0  # the failed engine's fatal device error is replaced by AudioFallback
        failed.stop()
        self.audio, self.text_only = NullAudio(), True
        self.engine = self._make_engine(*self._models)
        self._incoming.emit(AudioFallback(str(err)))
        return self._start_engine()

    def _stop_engine(self) -> None:
        if self.engine is not None:
            self.engine.stop()

    def _stop_all(self) -> None:
        self._stop_engine()
        self._eot.close()
        if self.listeners is not None:
            self.listeners.close()

    # -- engine-events thread ---------------------------------------------------------------------------------
    def _sink(self, ev: object, generation: int) -> None:
        if generation != self._live_generation and isinstance(ev, EngineError) and ev.fatal:
            log.info("dropped a fatal error from a replaced engine: %s", ev.message)
            return
        self._eot.on_event(ev)
        self._route_to_listeners(ev)
        self._incoming.emit(ev)

    def _route_to_listeners(self, ev: object) -> None:
        if self.listeners is None:
            return
        self._partial.on_event(ev)
        self._bridge.on_event(ev)

    # -- engine-capture thread --------------------------------------------------------------------------------
    def _on_frame(self, frame: Any) -> None:
        self._partial.on_frame(frame)
        self._eot.on_frame(frame)

    def _asr_running(self) -> bool:
        lis = self.listeners
        return lis is not None and lis.status()[ASR].enabled


def _log_failure(fut: Future) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.error("engine control call failed", exc_info=fut.exception())


def describe_history(turns: list) -> str:
    """One line for the log: each turn's role and its audio seconds or words ("user 3.2 s · assistant 12 words")."""
    parts = [f"{t.role} {t.n_samples / 16000:.1f} s" if t.has_audio else f"{t.role} {len(t.text.split())} words"
             for t in turns]
    return " · ".join(parts) or "empty"
