"""Applies engine and listener events (on the GUI thread) to the conversation log, the bubbles and the strip."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from app.window.turns import ASSISTANT, USER, ConversationLog
from core.audio.levels import MicLevel
from core.engine.events import (
    BargeIn,
    EngineError,
    EngineState,
    ReplyAudio,
    ReplyEnded,
    ReplyText,
    StateChanged,
    UserTextSubmitted,
    UserTurnCaptured,
)
from core.listeners.events import LISTENER_NAMES, ListenerStatus, TurnEmotion, UserTranscript
from core.turns.events import SpeechDiscarded, SpeechIgnored
from ui.controls import StatusStrip
from ui.conversation_view import ConversationView, bubble_text, printable
from ui.messages import INTERRUPT_HINT, listener_line

log = logging.getLogger(__name__)
SPEECH_IGNORED_TEXT = ("Heard speech while the app was talking: the microphone is off then (half-duplex). If that "
                       f"was you, say it again; to interrupt by speaking, {INTERRUPT_HINT}.")

LIVE_TURN_ID = 0  # engine turn ids start at 1; 0 is the bubble of the turn still being spoken
STOPPED_NOTE = "reply stopped"  # on the user's bubble when its reply was stopped before it said anything


class Presenter(QObject):
    """`handle(event)`; `reply_text_changed(turn_id, text)` after every streamed text delta (tests, bench)."""

    reply_text_changed = Signal(int, str)
    reply_ended = Signal(int)
    engine_error = Signal(object)
    notice = Signal(str)  # a line the window shows even while the app talks (speech heard while muted)
    state_changed = Signal(str)  # the engine state's value, after the strip shows it

    def __init__(self, view: ConversationView, strip: StatusStrip, log_: ConversationLog,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.view, self.strip, self.log = view, strip, log_
        self.listener_status: dict[str, ListenerStatus] = {}
        self.half_duplex: Callable[[], bool] = lambda: True  # the window says whether the mic is off while speaking
        self.downloadable: Callable[[str], bool] = lambda _name: False  # a listener the app can download
        self._listening = False
        self.partials_shown = 0
        self._unshown: set[int] = set()  # replies stopped before they said anything: no bubble, now or later
        self._handlers: dict[type, Callable] = {
            StateChanged: self._state,
            MicLevel: self._level,
            UserTurnCaptured: self._user_audio,
            UserTextSubmitted: self._user_text,
            ReplyText: self._reply_text,
            ReplyAudio: self._reply_audio,
            BargeIn: self._barge_in,
            ReplyEnded: self._reply_end,
            EngineError: self._error,
            SpeechDiscarded: self._speech_discarded,
            SpeechIgnored: self._speech_ignored,
            UserTranscript: self._transcript,
            TurnEmotion: self._emotion,
            ListenerStatus: self._listener,
        }

    def handle(self, ev: object) -> None:
        handler = self._handlers.get(type(ev))
        if handler is not None:
            handler(ev)

    def set_listener_statuses(self, statuses: dict[str, ListenerStatus]) -> None:
        """A snapshot (after a model load): a status already "ready" in it is shown, and logged, from here; its
        queued event then changes nothing."""
        for ev in statuses.values():
            self._log_if_new(ev)
        self.listener_status = dict(statuses)
        self._show_listeners()

    # -- handlers -------------------------------------------------------------------------------------------
    def _state(self, ev: StateChanged) -> None:
        self._listening = ev.new is EngineState.LISTENING
        if not self._listening:
            self.view.remove(USER, LIVE_TURN_ID)  # a late partial must not outlive the turn
        self.strip.set_state(ev.new.value)
        self.strip.set_mic_off(ev.new is EngineState.SPEAKING and self.half_duplex())
        self.state_changed.emit(ev.new.value)

    def _level(self, ev: MicLevel) -> None:
        self.strip.set_level(ev.rms_dbfs, ev.ignored)

    def _user_audio(self, ev: UserTurnCaptured) -> None:
        if ev.continues_turn is not None:
            self._supersede(ev.continues_turn)
        self.view.rekey(USER, LIVE_TURN_ID, ev.turn_id)
        rec = self.log.get_or_add(USER, ev.turn_id)
        rec.chunks, rec.sample_rate_hz = [ev.samples], ev.sample_rate_hz
        bubble = self.view.bubble(USER, ev.turn_id)
        if not rec.text and not bubble.plain_text:  # keep a live partial until the final transcript
            bubble.set_text(f"{rec.audio_s:.1f} s of speech")
        bubble.set_spoken(True)
        bubble.set_note("spoken" if ev.reason != "submitted" else "push-to-talk")
        bubble.set_replayable(True)

    def _supersede(self, turn_id: int) -> None:
        """The user went on after turn `turn_id` was committed early: the new turn holds its audio, so its bubbles
        leave the view (one user turn on screen) and its log records are kept, marked superseded (export)."""
        for role in (USER, ASSISTANT):
            rec = self.log.find(role, turn_id)
            if rec is not None:
                rec.superseded = True
            self.view.remove(role, turn_id)

    def _hidden(self, role: str, turn_id: int) -> bool:
        """Not on screen: superseded, or a reply stopped before it said anything."""
        rec = self.log.find(role, turn_id)
        return (rec is not None and rec.superseded) or (role == ASSISTANT and turn_id in self._unshown)

    def _user_text(self, ev: UserTextSubmitted) -> None:
        rec = self.log.get_or_add(USER, ev.turn_id)
        rec.text, rec.typed = ev.text, True
        bubble = self.view.bubble(USER, ev.turn_id)
        bubble.set_text(ev.text)
        bubble.set_note("typed")

    def _reply_text(self, ev: ReplyText) -> None:
        rec = self.log.get_or_add(ASSISTANT, ev.turn_id)
        rec.text += ev.delta.text
        if not self._hidden(ASSISTANT, ev.turn_id):
            self.view.bubble(ASSISTANT, ev.turn_id).append_text(ev.delta.text)
        self.reply_text_changed.emit(ev.turn_id, rec.text)

    def _reply_audio(self, ev: ReplyAudio) -> None:
        rec = self.log.get_or_add(ASSISTANT, ev.turn_id)
        rec.chunks.append(ev.chunk.samples)
        rec.sample_rate_hz = ev.chunk.sample_rate_hz
        if not self._hidden(ASSISTANT, ev.turn_id):
            self.view.bubble(ASSISTANT, ev.turn_id).set_replayable(True)

    def _barge_in(self, ev: BargeIn) -> None:
        bubble = self.view.find(ASSISTANT, ev.turn_id)  # none yet (stopped while thinking): none is made
        if bubble is not None and not self._hidden(ASSISTANT, ev.turn_id):
            bubble.set_note("interrupted")

    def _reply_end(self, ev: ReplyEnded) -> None:
        rec = self.log.get_or_add(ASSISTANT, ev.turn_id)
        rec.interrupted, rec.heard_text = ev.interrupted, ev.heard_text
        if rec.superseded:  # the early reply of a turn the user went on with: not on screen
            self.reply_ended.emit(ev.turn_id)
            return
        if ev.interrupted and ev.played_s <= 0 and not printable(rec.text).strip():
            self._stopped_silent(ev.turn_id)  # Esc while thinking: no empty "interrupted" bubble, no emotion chip
            log.info("reply %d stopped before it said anything", ev.turn_id)
            self.reply_ended.emit(ev.turn_id)
            return
        bubble = self.view.bubble(ASSISTANT, ev.turn_id)
        heard = bubble_text(ev.heard_text).strip()  # the note is cleaned as the body is (no raw "\ufffd")
        if ev.interrupted and ev.played_s <= 0:
            bubble.set_note("stopped before it spoke")
        elif ev.interrupted:
            bubble.set_note(f"interrupted — heard: “{heard}”" if heard else "interrupted")
        elif ev.error:
            bubble.set_note("failed")
        if not rec.text and not ev.text:
            bubble.set_text("(no words)")
        settled = bubble.settle_emotion()  # an interrupted reply's provisional label gets no final update
        if settled is not None and not rec.emotions:
            rec.emotions.append(settled)
        log.info("reply %d ended (%s, %.1f s played)", ev.turn_id, ev.reason.value, ev.played_s)
        self.reply_ended.emit(ev.turn_id)

    def _stopped_silent(self, turn_id: int) -> None:
        """A reply stopped before a word or a sound of it: its bubble goes, and the user's turn says so quietly."""
        self._unshown.add(turn_id)
        self.view.remove(ASSISTANT, turn_id)
        user = self.view.find(USER, turn_id)
        if user is not None:
            note = user.note.text()
            user.set_note(f"{note} · {STOPPED_NOTE}" if note else STOPPED_NOTE)

    def _error(self, ev: EngineError) -> None:
        log.info("engine error (%s): %s", ev.kind.value, ev.message)
        self.engine_error.emit(ev)

    def _speech_ignored(self, ev: SpeechIgnored) -> None:
        """Half-duplex muting heard voice: say so at once, while the app talks (it was not taken as a turn, nor is
        its rest after the microphone opens: core.turns.capture)."""
        log.info("speech heard while the microphone was muted (%.0f ms)", ev.speech_ms)
        self.notice.emit(SPEECH_IGNORED_TEXT)

    def _speech_discarded(self, _ev: SpeechDiscarded) -> None:
        self.view.remove(USER, LIVE_TURN_ID)

    def _transcript(self, ev: UserTranscript) -> None:
        if ev.turn_id is None:  # a live partial while the user is still speaking
            if not ev.is_final and ev.text.strip() and self._listening:
                live = self.view.bubble(USER, LIVE_TURN_ID)
                live.set_text(f"{ev.text} …")
                live.set_note("hearing")
                self.partials_shown += 1
            return
        rec = self.log.get_or_add(USER, ev.turn_id)
        if ev.is_final:
            rec.text = ev.text
        if rec.superseded:
            return
        bubble = self.view.bubble(USER, ev.turn_id)
        bubble.set_text((ev.text or "(no words recognised)") if ev.is_final else f"{ev.text} …")

    def _emotion(self, ev: TurnEmotion) -> None:
        if ev.turn_id is None:
            return
        role = USER if ev.emotion.source == "user" else ASSISTANT
        rec = self.log.get_or_add(role, ev.turn_id)
        if ev.is_final:
            rec.emotions.append((ev.emotion.label, ev.emotion.confidence))
        if not self._hidden(role, ev.turn_id):
            self.view.bubble(role, ev.turn_id).set_emotion(ev.emotion.label, ev.emotion.confidence, ev.is_final)

    def _listener(self, ev: ListenerStatus) -> None:
        self._log_if_new(ev)
        self.listener_status[ev.name] = ev
        self._show_listeners()

    def _log_if_new(self, ev: ListenerStatus) -> None:
        if ev.name not in self.listener_status or self.listener_status[ev.name].reason != ev.reason:
            log.info("listener shown: %s: %s", ev.name, ev.reason)  # e.g. "assistant_emotion: ready"

    def _show_listeners(self) -> None:
        order = {name: i for i, name in enumerate(LISTENER_NAMES)}
        statuses = sorted(self.listener_status.values(), key=lambda s: order.get(s.name, len(order)))
        self.strip.set_listeners([listener_line(s, self.downloadable(s.name)) for s in statuses])
