"""Speech over a reply, frame by frame (a scripted VAD, no devices): pause, then stop or play on after a
backchannel; the "immediate" strategy; nothing of the kind while no reply runs."""

from __future__ import annotations

import types

import numpy as np

from core.audio.levels import LevelConfig
from core.engine.config import EngineConfig
from core.turns.capture import CaptureHooks, CaptureLoop
from core.turns.config import VAD_FRAME, VadConfig


class ScriptedVad:
    def __init__(self, probs: list[float]) -> None:
        self._probs = iter(probs)

    def prob(self, frame: np.ndarray) -> float:
        return next(self._probs)

    def reset(self) -> None:
        pass


def _run(probs: list[float], replying: bool = True, **config) -> list[tuple[int, str]]:
    """(frame index, hook) for every hook the capture loop called."""
    calls: list[tuple[int, str]] = []
    frame_no = [0]

    def note(name):
        return lambda *a: calls.append((frame_no[0], name, *a))

    hooks = CaptureHooks(
        emit=lambda ev: None, dispatch=note("dispatch"), barge_in=note("barge_in"), mic_live=lambda: True,
        replying=lambda: replying, pause=note("pause"), backchannel=note("backchannel"),
    )
    thresholds = {"barge_in_ms": 128.0, "backchannel_ms": 608.0, "backchannel_gap_ms": 192.0,
                  "over_reply_threshold": 0.25, **config}  # fixed here: the defaults are fitted (bench_duplex)
    cfg = EngineConfig(duplex="headphones", vad=VadConfig(speculate_after_ms=None), **thresholds)
    capture = types.SimpleNamespace(rate_hz=16000)
    loop = CaptureLoop(capture, ScriptedVad(probs), cfg, LevelConfig(), hooks)
    for i in range(len(probs)):
        frame_no[0] = i
        loop._on_frame(np.zeros(VAD_FRAME, np.float32), float(i))
    return calls


def _first(calls, name):
    return next((c[0] for c in calls if c[1] == name), None)


def test_a_short_backchannel_pauses_then_resumes_the_reply_and_is_no_turn():
    calls = _run([0.9] * 10 + [0.0] * 40)  # 320 ms of "mm-hm", then quiet
    assert _first(calls, "pause") == 3  # the 4th voiced frame: 128 ms
    assert _first(calls, "backchannel") == 10 + 5  # 192 ms of silence (6 frames) after it
    assert _first(calls, "barge_in") is None and _first(calls, "dispatch") is None


def test_longer_speech_pauses_then_stops_the_reply_and_becomes_the_next_turn():
    calls = _run([0.9] * 25 + [0.0] * 40)
    assert _first(calls, "pause") == 3
    assert _first(calls, "barge_in") == 18  # 19 voiced frames: 608 ms
    assert _first(calls, "backchannel") is None and _first(calls, "dispatch") is not None


def test_a_sentence_that_starts_like_a_backchannel_pauses_again_and_keeps_its_first_word():
    # "Well," (160 ms), a 256 ms pause (the reply resumes), then the sentence goes on
    calls = _run([0.9] * 5 + [0.0] * 8 + [0.9] * 30 + [0.0] * 40)
    assert [c[1] for c in calls if c[1] in ("pause", "backchannel")][:3] == ["pause", "backchannel", "pause"]
    assert _first(calls, "backchannel") == 5 + 5 and _first(calls, "barge_in") == 13 + 13  # 19 voiced frames
    dispatched = [c[2] for c in calls if c[1] == "dispatch"]
    assert len(dispatched) == 1 and dispatched[0].start_frame == 0  # one turn, from "Well" on


def test_immediate_strategy_stops_at_the_pause_threshold():
    calls = _run([0.9] * 10 + [0.0] * 40, interruption="immediate")
    assert _first(calls, "barge_in") == 3 and _first(calls, "pause") is None and _first(calls, "backchannel") is None


def test_without_a_reply_speech_is_an_ordinary_turn():
    calls = _run([0.9] * 10 + [0.0] * 40, replying=False)
    assert _first(calls, "pause") is None and _first(calls, "backchannel") is None
    assert _first(calls, "dispatch") is not None


def test_muffled_first_words_pause_the_reply_and_the_turn_reaches_back_to_them():
    # the canceller muffles the onset (P 0.3: under the detector's 0.5, over the over-reply threshold), then clear
    probs = [0.0] * 20 + [0.3] * 12 + [0.9] * 25 + [0.0] * 40
    calls = _run(probs)
    assert _first(calls, "pause") == 20 + 3  # 128 ms of muffled voice
    assert _first(calls, "barge_in") is not None and _first(calls, "backchannel") is None
    turn = next(c[2] for c in calls if c[1] == "dispatch")
    assert turn.start_frame <= 20 - 9  # from the muffled onset, with its 300 ms pre-roll (10 frames)


def test_a_low_blip_of_residual_echo_is_forgotten():
    calls = _run([0.3] * 2 + [0.0] * 10 + [0.3] * 2 + [0.0] * 10)  # 64 ms twice, far apart
    assert _first(calls, "pause") is None
