"""Journaling made-up conversations the way the window does (engine events into a ConversationJournal)."""

from __future__ import annotations

import numpy as np

from core.engine.events import ReplyAudio, ReplyEnded, ReplyText, UserTextSubmitted, UserTurnCaptured
from core.listeners.events import UserTranscript
from core.lm.events import AudioChunk, StopReason, TextDelta

REPLY_RATE_HZ = 22050


def tone(seconds: float, rate_hz: int, hz: float = 220.0) -> np.ndarray:
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    return (0.2 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def reply(journal, tid: int, text: str, heard: str | None = None) -> None:
    """The reply to turn `tid`: its text, 0.3 s of audio, its end (interrupted when `heard` is shorter)."""
    journal.handle(ReplyText(tid, TextDelta(text, ())))
    journal.handle(ReplyAudio(tid, AudioChunk(tone(0.3, REPLY_RATE_HZ, 330.0), REPLY_RATE_HZ, 0, True)))
    heard = text if heard is None else heard
    journal.handle(ReplyEnded(tid, StopReason.EOS if heard == text else StopReason.CANCELLED, text, heard,
                              heard != text, 0.3, 0.3, 0))


def typed(journal, tid: int, text: str, answer: str, heard: str | None = None) -> None:
    journal.handle(UserTextSubmitted(tid, text))
    reply(journal, tid, answer, heard)


def spoken(journal, tid: int, transcript: str, seconds: float = 0.5, continues: int | None = None,
           answer: str | None = None) -> None:
    """A spoken turn (16 kHz audio and its final transcript); `continues` = the early-committed turn it goes on."""
    samples = tone(seconds, 16000)
    journal.handle(UserTurnCaptured(tid, samples, 16000, 0.0, seconds, seconds, "semantic",
                                    continues_turn=continues))
    journal.handle(UserTranscript(tid, transcript, True))
    if answer is not None:
        reply(journal, tid, answer)
