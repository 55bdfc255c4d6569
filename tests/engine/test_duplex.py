"""Full duplex on the room rig (testing.duplex_trial): the real capture path with the echo canceller, replies in
real synthetic speech coming back into the fake microphone through a laptop room. Each test is one trial; the
figures over many trials are bench/bench_duplex.py's."""

from __future__ import annotations

import pytest

from core.engine.config import EngineConfig
from testing.duplex_trial import run_trial
from testing.room import RoomConfig

pytestmark = pytest.mark.slow
LOUD_ROOM = RoomConfig(delay_ms=120.0, rt60_s=0.4, echo_gain_db=6.0, noise_db=-45.0, seed=11)  # echo 6 dB over the user
BEFORE = EngineConfig(duplex="headphones", interruption="immediate", barge_in_ms=200.0)  # barge-in before issue 33


def test_on_speakers_the_reply_plays_through_its_own_echo():
    r = run_trial("reply", LOUD_ROOM, seed=5, reply_sentences=1)
    print(f"ERLE {r.erle_db:.1f} dB, AEC {r.aec_ms_per_frame:.3f} ms per 10 ms frame")
    assert r.error is None and not r.interrupted and r.barge_ins == 0 and r.paused == 0 and r.turns == 0
    assert r.erle_db > 25.0


def test_without_echo_cancellation_the_reply_interrupts_itself():
    r = run_trial("reply", LOUD_ROOM, seed=5, config=BEFORE, reply_sentences=1)
    assert r.barge_ins > 0 and r.interrupted  # the rig can show the failure the canceller prevents


def test_a_sentence_over_the_reply_silences_it_and_becomes_the_next_turn_whole():
    r = run_trial("sentence", LOUD_ROOM, seed=6, user_at_s=1.5)
    print(f"stopped {r.stop_ms:.0f} ms after onset; captured turn corr {r.capture_corr:.2f}, "
          f"clipped {r.clipped_ms:.0f} ms")
    assert r.error is None and r.paused >= 1 and r.barge_ins >= 1 and r.interrupted and r.turns >= 1
    assert r.stop_ms < 600.0  # 128 ms of speech + VAD onset + a capture and an output block; the bench has the rest
    assert r.clipped_ms == 0.0 and r.capture_corr > 0.6


def test_a_backchannel_over_the_reply_lets_it_play_on():
    r = run_trial("backchannel", LOUD_ROOM, seed=7, user_at_s=1.0, word="yeah", reply_sentences=1)
    assert r.error is None and r.barge_ins == 0 and not r.interrupted and r.turns == 0
