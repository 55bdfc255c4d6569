"""The bridge holds listener work until the reply's audio is ahead of playback (not just at its first chunk):
the next chunks must come before the short first one has played."""

from __future__ import annotations

import time

import numpy as np

from core.engine.events import ReplyAudio, ReplyEnded
from core.listeners.bridge import ListenerBridge
from core.lm.events import AudioChunk, StopReason

RATE_HZ = 22050


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def on_reply_first_audio(self, turn_id: int) -> None:
        self.calls.append(("release", turn_id))

    def on_reply_end(self, turn_id: int) -> None:
        self.calls.append(("end", turn_id))


def _audio(turn_id: int, seconds: float, index: int = 0) -> ReplyAudio:
    return ReplyAudio(turn_id, AudioChunk(np.zeros(int(seconds * RATE_HZ), np.float32), RATE_HZ, index, False))


def test_work_is_released_once_the_reply_is_ahead():
    rec = _Recorder()
    bridge = ListenerBridge(lambda: rec, lead_s=1.0)
    bridge.on_event(_audio(1, 0.28))  # the first chunk: 0.28 s made, nothing ahead yet
    bridge.on_event(_audio(1, 0.2, 1))
    assert rec.calls == []
    bridge.on_event(_audio(1, 1.6, 2))  # 2.08 s made within a few ms: more than 1 s ahead
    bridge.on_event(_audio(1, 3.8, 3))
    assert rec.calls == [("release", 1)]  # once


def test_time_played_counts_against_the_lead():
    rec = _Recorder()
    bridge = ListenerBridge(lambda: rec, lead_s=0.3)
    bridge.on_event(_audio(2, 0.25))
    time.sleep(0.2)  # ~0.2 s has played: 0.05 s ahead
    bridge.on_event(_audio(2, 0.0, 1))
    assert rec.calls == []
    bridge.on_event(_audio(2, 0.4, 2))  # 0.65 s made, ~0.2 s played
    assert rec.calls == [("release", 2)]


def test_the_reply_end_releases_and_forgets():
    rec = _Recorder()
    bridge = ListenerBridge(lambda: rec, lead_s=1.0)
    bridge.on_event(_audio(3, 0.28))
    bridge.on_event(ReplyEnded(3, StopReason.EOS, "", "", False, 0.28, 0.28, 0))
    assert rec.calls == [("end", 3)]
