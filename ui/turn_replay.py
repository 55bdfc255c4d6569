"""Replaying a stored turn, from the live conversation or from History: one sound at a time, stoppable, unheard.

`TurnReplay.toggle(view, log, role, turn_id)` plays a turn's audio through the window's `ReplayPlayer`
(app/window/replay.py); the turn's button becomes Stop, and toggling it again, Esc or the Stop button
(`stop()`) silence it. While it plays:

- a running reply is interrupted first (one sound at a time);
- hands-free listening is deaf (`Session.hold_mic`): on loudspeakers the microphone hears the replay and would
  take it for the user's next turn;
- the status strip says "Replaying a turn" and the microphone is shown off; Stop counts as busy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject

from app.window.turns import ConversationLog
from ui.controls import BUSY_STATES, StatusStrip
from ui.conversation_view import ConversationView

log = logging.getLogger(__name__)

REPLAYING_STATE = "replaying"


class TurnReplay(QObject):
    def __init__(self, player: Any, session: Any, strip: StatusStrip, changed: Callable[[], None],
                 parent: QObject | None = None) -> None:
        """player: a ReplayPlayer or None (no audio); changed(): called when `playing` may have changed."""
        super().__init__(parent)
        self.player, self._session, self._strip, self._changed = player, session, strip, changed
        self._now: tuple[ConversationView, str, int] | None = None  # the view, role and turn id playing
        self.engine_state = "no_model"  # the strip's last engine state: shown again when the replay ends
        if player is not None:
            player.finished.connect(self._finished)

    @property
    def playing(self) -> bool:
        return self._now is not None

    def is_playing(self, view: ConversationView, role: str, turn_id: int) -> bool:
        return self._now == (view, role, turn_id)

    def toggle(self, view: ConversationView, log_: ConversationLog, role: str, turn_id: int) -> None:
        """Play that turn of `log_` (shown in `view`); if it is the one playing, stop it."""
        rec = log_.find(role, turn_id)
        if rec is None or not rec.chunks or self.player is None:
            return
        if self.is_playing(view, role, turn_id):
            self.stop("its button")
            return
        self.stop("another turn")  # synchronously finished: its hold ends before this one's starts
        log.info("replay: %s turn %d (%.1f s)", role, turn_id, rec.audio_s)
        if self._strip.state_name in BUSY_STATES:
            self._session.interrupt()  # the replay replaces the running reply
        self._session.hold_mic(True)
        self.player.play(rec.audio(), rec.sample_rate_hz)
        if not self.player.playing:  # it failed (the player said why) or the clip was empty
            self._session.hold_mic(False)
            return
        self._now = (view, role, turn_id)
        bubble = view.find(role, turn_id)
        if bubble is not None:
            bubble.set_replaying(True)
        self._strip.set_state(REPLAYING_STATE)
        self._strip.set_mic_off(True)
        self._changed()

    def stop(self, why: str) -> None:
        if self.player is not None and self.player.playing:
            log.info("replay stopped (%s)", why)
            self.player.stop()

    def on_engine_state(self, state: str) -> None:
        """The presenter showed an engine state; a replay keeps the strip saying what plays."""
        self.engine_state = state
        if self._now is not None:
            self._strip.set_state(REPLAYING_STATE)

    def _finished(self) -> None:
        now, self._now = self._now, None
        if now is not None:
            view, role, turn_id = now
            bubble = view.find(role, turn_id)
            if bubble is not None:
                bubble.set_replaying(False)
            self._strip.set_state(self.engine_state)
            self._strip.set_mic_off(False)
        self._session.hold_mic(False)
        self._changed()
