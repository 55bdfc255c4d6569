"""Speech over a running reply (full duplex), frame by frame: when to pause the reply, stop it, or let it play on.

While the reply plays, the echo canceller's suppressor attenuates the user's first words (double talk: 20-30 dB
at first), so silero-vad's probability on them stays low (0.15-0.5 on the rig): voice over a reply counts from
`over_reply_threshold`, lower than the turn detector's start threshold. Its voiced time (gaps shorter than
`backchannel_gap_ms` bridged), or the detector's if larger, drives the "backchannel" strategy:

    barge_in_ms     -> "pause"   the reply is silenced, its place kept
    backchannel_ms  -> "stop"    an interruption: the reply is cancelled, this speech is the next turn
    short of that, backchannel_gap_ms of silence -> "resume": maybe a backchannel ("mm-hm"); the speech is kept, and
                       if it goes on ("Well, ... I think") the reply pauses again after REPAUSE_MS more voice
"immediate" stops at barge_in_ms. The turn detector closing the speech short of a stop drops it (`closed()`):
a backchannel is never a turn. `onset_frame` is where the speech over the reply began, so the turn that an
interruption becomes can reach back to it (core.turns.vad.TurnDetector.reach_back).
"""

from __future__ import annotations

import logging

from core.turns.config import VAD_FRAME_MS, TurnSettings

log = logging.getLogger(__name__)

REPAUSE_MS = 64.0  # voice after a backchannel's resume that pauses the reply again (the same speech going on)
FORGET_MS = 1000.0  # after a resume, this much silence with the detector idle ends the backchannel


class OverReply:
    """States: None (no speech over the reply yet), "paused", "resumed", "stopped"."""

    def __init__(self, config: TurnSettings) -> None:
        self._cfg = config
        self.state: str | None = None
        self.onset_frame: int | None = None  # frame index of the first voice over the reply
        self._voiced = 0  # frames at or over the threshold since the onset
        self._silent = 0  # frames under it, in a row
        self._resumed_at_ms = 0.0
        self.speech_ms = 0.0  # the speech's voiced time, as last judged

    def reset(self) -> None:
        self.state, self.onset_frame, self._voiced, self._silent = None, None, 0, 0

    def frame(self, index: int, prob: float, detector_ms: float, detector_in_speech: bool) -> str | None:
        """One VAD frame while a reply runs -> "pause" | "stop" | "resume" | None."""
        cfg = self._cfg
        if prob >= cfg.over_reply_threshold:
            if self.onset_frame is None:
                self.onset_frame = index
            self._voiced += 1
            self._silent = 0
        else:
            self._silent += 1
        silent_ms = self._silent * VAD_FRAME_MS
        speech_ms = self.speech_ms = max(self._voiced * VAD_FRAME_MS, detector_ms)
        if self.state == "stopped":
            return None
        if cfg.interruption == "immediate":
            if speech_ms >= cfg.barge_in_ms:
                self.state = "stopped"
                return "stop"
        elif speech_ms >= cfg.backchannel_ms:
            self.state = "stopped"
            return "stop"
        elif (self.state is None and speech_ms >= cfg.barge_in_ms) or (
                self.state == "resumed" and speech_ms >= self._resumed_at_ms + REPAUSE_MS):
            self.state = "paused"
            return "pause"
        elif self.state == "paused" and silent_ms >= cfg.backchannel_gap_ms:
            self.state, self._resumed_at_ms = "resumed", speech_ms
            return "resume"
        if self.state is None and silent_ms >= cfg.backchannel_gap_ms:
            self.onset_frame, self._voiced = None, 0  # a blip (residual echo, a click) is forgotten
        elif self.state == "resumed" and silent_ms >= FORGET_MS and not detector_in_speech:
            self.reset()  # the backchannel is over; the detector never made it a turn
        return None

    def reply_over(self, detector_in_speech: bool) -> None:
        """No reply runs any more: speech that paused or stopped it is an ordinary turn now; a resumed
        backchannel is still dropped when the detector closes it."""
        if self.state != "resumed" or not detector_in_speech:
            self.reset()

    def closed(self) -> tuple[bool, bool]:
        """The turn detector closed the speech (a turn, or discarded). (drop it, resume the reply first): speech
        that paused the reply and never reached a stop was a backchannel."""
        drop = self.state in ("paused", "resumed")
        resume = self.state == "paused"
        self.reset()
        return drop, resume
