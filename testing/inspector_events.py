"""Synthetic session events for the "what the app heard" inspector (tests and the screenshot): a turn the course
model committed early, one the longest silence ended, one stopped by a barge-in and a typed one, with realistic
probabilities and timings (time.monotonic() marks from an arbitrary origin)."""

from __future__ import annotations

import numpy as np

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
from core.lm.events import StopReason
from core.turns.end_of_turn import Check, EndOfTurnCourse

RATE_HZ = 16000
T0 = 1000.0  # the monotonic clock at engine start (capture time 0)
COMMIT, MAX_SILENCE_MS = 0.7, 1152.0  # the course policy's full-duplex operating point, the longest silence


def course(rows: list[tuple[float, float, float | None, float]]) -> EndOfTurnCourse:
    """rows: (silence_ms, audio prob, text prob, score); a row commits when its score reaches COMMIT."""
    checks = tuple(Check(ms, a, t, s, s >= COMMIT) for ms, a, t, s in rows)
    last = checks[-1]
    required = last.silence_ms if last.commit else MAX_SILENCE_MS
    return EndOfTurnCourse("course", checks, MAX_SILENCE_MS, required, COMMIT, None, 96.0)


def spoken(tid: int, speech_end_s: float, silence_ms: float, reason: str, eot: EndOfTurnCourse | None,
           decide_ms: float = 6.0, length_s: float = 2.4, continues: int | None = None) -> UserTurnCaptured:
    """A spoken turn whose speech ended at capture time `speech_end_s`; its last block arrived then (+ 4 ms), the
    dispatch came `silence_ms` + `decide_ms` later."""
    dispatched_s = speech_end_s + silence_ms / 1000
    samples = np.zeros(int(length_s * RATE_HZ), np.float32)
    return UserTurnCaptured(tid, samples, RATE_HZ, speech_end_s - length_s + 0.3, speech_end_s, dispatched_s, reason,
                            T0 + speech_end_s + 0.004, T0 + dispatched_s + 0.004 + decide_ms / 1000, continues, eot)


def reply_end(tid: int, timing: ReplyTiming, played_s: float, interrupted: bool = False) -> ReplyEnded:
    reason = StopReason.CANCELLED if interrupted else StopReason.EOS
    return ReplyEnded(tid, reason, "…", "…", interrupted, played_s, played_s + 0.2, 0, None, timing)


def session_events() -> list[object]:
    """Four turns as the session would deliver them."""
    semantic = course([(96, 0.31, None, 0.22), (192, 0.58, 0.64, 0.47), (288, 0.79, 0.83, 0.66),
                       (384, 0.88, 0.9, 0.82)])
    t1 = spoken(1, 3.2, 384, "semantic", semantic)
    e1 = t1.speech_end_t or 0.0
    audio = (0.12, 0.18, 0.22, 0.2, 0.27, 0.31, 0.29, 0.33, 0.35, 0.34, 0.38)
    text = (0.21, 0.21, 0.24, 0.24, 0.19, 0.19, 0.22, 0.22, 0.22, 0.26, 0.26)  # "what happened to": not finished
    score = (0.08, 0.11, 0.14, 0.15, 0.19, 0.23, 0.25, 0.29, 0.33, 0.35, 0.41)
    low = [(96.0 * (k + 1), audio[k], text[k], score[k]) for k in range(11)]
    t2 = spoken(2, 14.0, MAX_SILENCE_MS, "silence", course(low), length_s=3.1)
    e2 = t2.speech_end_t or 0.0
    fast = course([(96, 0.93, 0.95, 0.91)])
    t3 = spoken(3, 29.5, 96, "semantic", fast, length_s=1.6)
    e3 = t3.speech_end_t or 0.0
    return [
        t1,
        UserTranscript(1, "Tell me a long story about a lighthouse keeper.", True),
        reply_end(1, ReplyTiming(t1.dispatched_t, first_text_t=e1 + 0.52, first_play_t=e1 + 0.81,
                                 speculated_t=e1 + 0.1), 7.4),
        t2,
        UserTranscript(2, "And then, um, what happened to", True),
        ReplyPaused(2, 192.0, e2 + 4.1, e2 + 4.33),
        ReplyResumed(2, 224.0, e2 + 4.71),
        reply_end(2, ReplyTiming(t2.dispatched_t, first_text_t=e2 + 1.31, first_play_t=e2 + 1.62), 9.8),
        t3,
        UserTranscript(3, "Wait, stop.", True),
        BargeIn(3, 352.0, e3 + 2.2, e3 + 2.59),
        reply_end(3, ReplyTiming(t3.dispatched_t, first_text_t=e3 + 0.29, first_play_t=e3 + 0.58,
                                 speculated_t=e3 + 0.1), 1.9, interrupted=True),
        UserTextSubmitted(4, "Thanks, that's all for now.", T0 + 41.0),
        reply_end(4, ReplyTiming(T0 + 41.0, first_text_t=T0 + 41.21, first_play_t=T0 + 41.5), 2.2),
    ]
