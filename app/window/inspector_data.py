"""What the app heard, per turn, for testers: assembled from the session's events (no Qt; ui.inspector shows it).

For each user turn: why it ended (the end-of-turn course of its last silence: every model call with its audio and
text probabilities and the evidence, the thresholds in force, the decision and a sentence saying why), and its
timings in ms from the end of speech (the decision, the reply's first text and first sound, the reply paused,
resumed or stopped by speech over it). The engine's marks are time.monotonic() values; a spoken turn's reference is
the arrival of its last voiced block, a typed or push-to-talk turn's is its dispatch.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field

from core.engine.events import (
    BargeIn,
    ReplyEnded,
    ReplyPaused,
    ReplyResumed,
    ReplyTiming,
    UserTextSubmitted,
    UserTurnCaptured,
)
from core.listeners.events import UserTranscript
from core.turns.end_of_turn import EndOfTurnCourse

log = logging.getLogger(__name__)

KEEP_TURNS = 200  # the oldest records are dropped beyond this many
ONSET = "speech over the reply began"

DECISIONS = {
    "semantic": "ended by the end-of-turn model",
    "silence": "ended by the silence",
    "max_length": "cut at the maximum length",
    "submitted": "ended by the talk key",
    "typed": "typed",
}


@dataclass(frozen=True)
class Series:
    """The plot's data: (silence_ms, value) points of the last silence, the thresholds and the decision point."""

    audio: tuple[tuple[float, float], ...]
    text: tuple[tuple[float, float], ...]
    evidence: tuple[tuple[float, float], ...]
    commit: float | None  # the evidence / score line that ends the turn
    hold: float | None  # "mean": the line at or below which the longest silence is waited for
    decision: tuple[float, float | None]  # (silence at the decision, the evidence then or None)
    max_silence_ms: float
    evidence_label: str  # "evidence" (mean of the probabilities) or "score" (the course classifier)


@dataclass
class HeardTurn:
    """One user turn as the app heard it; the reply's fields fill in as its events come."""

    turn_id: int
    reason: str  # UserTurnCaptured.reason, or "typed"
    dispatched_t: float
    speech_end_t: float | None = None
    silence_ms: float | None = None  # silence at the decision, on the capture clock (whole 32 ms frames)
    length_s: float | None = None  # the turn's audio, pre-roll included
    course: EndOfTurnCourse | None = None
    continues: int | None = None  # this speech went on after turn N was committed early
    continued_by: int | None = None  # the user went on after this early commit: turn N replaced it
    transcript: str = ""
    timing: ReplyTiming | None = None
    reply: str = ""  # how the reply ended, once it did
    over_reply: list[tuple[str, float | None]] = field(default_factory=list)  # (what, its mark), in order

    # -- what the inspector shows -----------------------------------------------------------------------------
    @property
    def decision(self) -> str:
        return DECISIONS.get(self.reason, self.reason)

    @property
    def reference(self) -> str:
        return "end of speech" if self.reason not in ("typed", "submitted") else "dispatch"

    def why(self) -> str:
        """One sentence: why the turn ended when it did."""
        c, silence = self.course, self.silence_ms
        if self.reason == "typed":
            return "Typed and sent with Enter: nothing to listen for."
        if self.reason == "submitted":
            return "You released the talk key (push-to-talk): no end-of-turn decision."
        if self.reason == "max_length":
            length = f" ({self.length_s:.1f} s)" if self.length_s is not None else ""
            return f"The turn reached the maximum length{length} and was cut mid-speech."
        heard = f"{silence:.0f} ms" if silence is not None else "the pause"
        if c is None:
            return f"Silence of {heard} ended the turn."
        if c.policy == "vad":
            return (f"Silence reached end_silence_ms {c.max_silence_ms:.0f} ms after {heard} "
                    f"(no end-of-turn model: the VAD's silence alone).")
        name = "score" if c.policy == "course" else "evidence"
        last = c.checks[-1] if c.checks else None
        if self.reason == "silence":
            if last is None:
                return f"Silence reached max_silence_ms {c.max_silence_ms:.0f} ms before any model call."
            return (f"Silence reached max_silence_ms {c.max_silence_ms:.0f} ms: the {name} stayed at "
                    f"{last.evidence:.2f}{_below(c)} over {len(c.checks)} model calls.")
        if last is None or c.commit is None:
            return f"The end-of-turn model ended the turn after {heard} of silence."
        if last.evidence >= c.commit:
            return f"{name.capitalize()} {last.evidence:.2f} ≥ commit {c.commit:.2f} after {heard} of silence."
        if c.hold is None:  # not expected: the course policy commits only at its operating point
            return f"The end-of-turn model ended the turn after {heard} of silence ({name} {last.evidence:.2f})."
        return (f"Evidence {last.evidence:.2f} (between hold {c.hold:.2f} and commit {c.commit:.2f}) needs "
                f"{c.required_ms:.0f} ms of silence; the pause reached {heard}.")

    def timings(self) -> list[tuple[str, float | None]]:
        """(what, ms after the reference; None: not yet or never), in the order they happened."""
        ref = self.speech_end_t if self.speech_end_t is not None else self.dispatched_t
        t = self.timing
        rows: list[tuple[str, float | None]] = [(self.reference, 0.0)]
        if t is not None and t.speculated_t is not None:
            rows.append(("speculative reply started", _ms(t.speculated_t, ref)))
        if self.reason not in ("typed", "submitted"):
            rows.append(("decision (turn dispatched)", _ms(self.dispatched_t, ref)))
        rows.append(("first text", _ms(t.first_text_t, ref) if t else None))
        rows.append(("first sound", _ms(t.first_play_t, ref) if t else None))
        rows += [(what, _ms(mark, ref)) for what, mark in self.over_reply]
        return rows

    def series(self) -> Series | None:
        """The probabilities over the last pause, for the plot (None: no model was asked)."""
        c = self.course
        if c is None or c.policy == "vad":
            return None
        audio = tuple((k.silence_ms, k.audio_prob) for k in c.checks)
        text = tuple((k.silence_ms, k.text_prob) for k in c.checks if k.text_prob is not None)
        evidence = tuple((k.silence_ms, k.evidence) for k in c.checks)
        at = self.silence_ms if self.silence_ms is not None else (c.checks[-1].silence_ms if c.checks else 0.0)
        return Series(audio, text, evidence, c.commit, c.hold, (at, evidence[-1][1] if evidence else None),
                      c.max_silence_ms, "score" if c.policy == "course" else "evidence")


def _below(c: EndOfTurnCourse) -> str:
    return f" (< commit {c.commit:.2f})" if c.commit is not None else ""


def _ms(mark: float | None, ref: float) -> float | None:
    return None if mark is None else 1000.0 * (mark - ref)


class HeardLog:
    """The records of the last KEEP_TURNS turns, fed every session event (`handle`); `on_change(turn_id)` after a
    record changed."""

    def __init__(self, keep: int = KEEP_TURNS) -> None:
        self.turns: OrderedDict[int, HeardTurn] = OrderedDict()
        self.keep = keep
        self.on_change = None

    def handle(self, ev: object) -> int | None:
        """Take one event; the id of the turn whose record changed, or None."""
        tid = self._take(ev)
        if tid is not None and self.on_change is not None:
            self.on_change(tid)
        return tid

    def _take(self, ev: object) -> int | None:
        if isinstance(ev, UserTurnCaptured):
            return self._add(HeardTurn(
                ev.turn_id, ev.reason, ev.dispatched_t, ev.speech_end_t,
                round(1000.0 * (ev.dispatched_s - ev.speech_end_s), 1) if ev.reason != "submitted" else None,
                ev.samples.size / ev.sample_rate_hz, ev.end_of_turn, ev.continues_turn))
        if isinstance(ev, UserTextSubmitted):
            return self._add(HeardTurn(ev.turn_id, "typed", ev.dispatched_t, transcript=ev.text))
        rec = self.turns.get(getattr(ev, "turn_id", None))
        if rec is None:
            return None
        if isinstance(ev, UserTranscript):
            if not ev.is_final:
                return None
            rec.transcript = ev.text
        elif isinstance(ev, ReplyEnded):
            rec.timing = ev.timing
            rec.reply = _outcome(ev)
        elif isinstance(ev, ReplyPaused):
            _onset(rec, ev.speech_start_t)
            rec.over_reply.append((f"reply paused ({ev.speech_ms:.0f} ms of speech over it)", ev.paused_t))
        elif isinstance(ev, ReplyResumed):
            rec.over_reply.append((f"reply resumed (a {ev.speech_ms:.0f} ms backchannel)", ev.resumed_t))
        elif isinstance(ev, BargeIn):
            if ev.speech_start_t is None:
                rec.over_reply.append(("reply stopped (Esc, Stop or a new turn)", ev.stopped_t))
            else:
                _onset(rec, ev.speech_start_t)
                rec.over_reply.append((f"barge-in: reply stopped after {ev.speech_ms:.0f} ms of speech",
                                       ev.stopped_t))
        else:
            return None
        return rec.turn_id

    def _add(self, rec: HeardTurn) -> int:
        self.turns[rec.turn_id] = rec
        self.turns.move_to_end(rec.turn_id)
        if rec.continues is not None and rec.continues in self.turns:
            self.turns[rec.continues].continued_by = rec.turn_id
        while len(self.turns) > self.keep:
            self.turns.popitem(last=False)
        return rec.turn_id


def _onset(rec: HeardTurn, mark: float | None) -> None:
    """The onset of speech over the reply, once per onset (a pause and then a barge-in share it)."""
    row = (ONSET, mark)
    if mark is not None and row not in rec.over_reply:
        rec.over_reply.append(row)


def _outcome(ev: ReplyEnded) -> str:
    if ev.error:
        return f"failed ({ev.error}) after {ev.played_s:.1f} s"
    if ev.interrupted:
        return f"interrupted after {ev.played_s:.1f} s played"
    return f"played out ({ev.played_s:.1f} s)"
