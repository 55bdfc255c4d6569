"""Half duplex (issue 34, finding 1): speech begun while the microphone was muted is reported, and its rest, heard
once the microphone opens, is not taken for a new turn; speech that starts after the reply is an ordinary turn."""

from __future__ import annotations

import types

import numpy as np

from core.audio.levels import LevelConfig
from core.engine.config import EngineConfig
from core.turns.capture import CaptureHooks, CaptureLoop
from core.turns.config import VAD_FRAME, VadConfig
from core.turns.events import SpeechIgnored
from tests.turns.test_over_reply import ScriptedVad

END_SILENCE_MS = 320.0  # 10 frames


def _run(probs: list[float], live: list[bool]) -> tuple[list[tuple[int, object]], list[object]]:
    """(frame index, dispatched turn) and the events, for per-frame VAD probabilities and microphone states."""
    dispatched: list[tuple[int, object]] = []
    events: list[object] = []
    frame_no = [0]
    hooks = CaptureHooks(
        emit=events.append, dispatch=lambda turn, t: dispatched.append((frame_no[0], turn)),
        barge_in=lambda *a: None, mic_live=lambda: live[frame_no[0]], replying=lambda: False,
    )
    cfg = EngineConfig(duplex="half", vad=VadConfig(end_silence_ms=END_SILENCE_MS, speculate_after_ms=None))
    loop = CaptureLoop(types.SimpleNamespace(rate_hz=16000), ScriptedVad(probs), cfg, LevelConfig(), hooks)
    for i in range(len(probs)):
        frame_no[0] = i
        loop._on_frame(np.zeros(VAD_FRAME, np.float32), float(i))
    return dispatched, events


def test_the_rest_of_speech_begun_while_muted_is_not_a_turn():
    # 40 frames muted (the app talks); the user talks from frame 20 to 60; the microphone opens at frame 40
    probs = [0.0] * 20 + [0.9] * 40 + [0.0] * 30
    live = [False] * 40 + [True] * 50
    dispatched, events = _run(probs, live)
    assert any(isinstance(e, SpeechIgnored) for e in events)  # reported (the window shows it)
    assert dispatched == []  # before the fix: frames 40..60 (the interruption's tail) became a turn


def test_speech_after_the_pause_that_follows_the_tail_is_heard():
    probs = [0.0] * 20 + [0.9] * 30 + [0.0] * 12 + [0.9] * 20 + [0.0] * 20
    live = [False] * 40 + [True] * 62
    dispatched, _ = _run(probs, live)
    assert len(dispatched) == 1  # the new sentence after a pause of end_silence_ms, only
    turn = dispatched[0][1]
    assert turn.samples.size <= (20 + 10 + 8) * VAD_FRAME  # its speech, kept tail and pre-roll, not the tail


def test_speech_that_starts_after_the_microphone_opened_is_an_ordinary_turn():
    probs = [0.0] * 20 + [0.9] * 15 + [0.0] * 10 + [0.9] * 20 + [0.0] * 20
    live = [False] * 40 + [True] * 45  # the muted speech (reported) ended before the microphone opened
    dispatched, events = _run(probs, live)
    assert any(isinstance(e, SpeechIgnored) for e in events)
    assert len(dispatched) == 1
