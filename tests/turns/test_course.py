"""The course policy: prosody cues on synthetic voiced sounds, the classifier's weights file, the policy's commits,
and the detector taking the duplex mode's operating point."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from core.engine.config import EngineConfig
from core.turns.config import VAD_FRAME, VAD_RATE_HZ, EndOfTurnConfig, VadConfig
from core.turns.course import (
    AUDIO_FEATURES,
    DEFAULT_WEIGHTS,
    TEXT_FEATURES,
    CoursePolicy,
    CourseWeights,
    Logistic,
    load_weights,
)
from core.turns.prosody import NEUTRAL, pitch_track, prosody_before_pause
from core.turns.semantic import SemanticTurnDetector, make_detector, make_policy
from core.turns.smart_turn import TurnScore
from models.errors import UserError


def glide(f0_start: float, f0_end: float, seconds: float = 1.2, level_end: float = 1.0) -> np.ndarray:
    """A voiced buzz (harmonics of a gliding F0) whose level goes linearly from 1 to level_end: [N] float32."""
    n = int(seconds * VAD_RATE_HZ)
    f0 = np.linspace(f0_start, f0_end, n)
    phase = 2 * np.pi * np.cumsum(f0) / VAD_RATE_HZ
    x = sum(np.sin(k * phase) / k for k in range(1, 8))
    return (0.2 * x * np.linspace(1.0, level_end, n)).astype(np.float32)


def with_pause(x: np.ndarray, pause_ms: float = 200.0) -> tuple[np.ndarray, int]:
    silence = int(pause_ms * VAD_RATE_HZ / 1000)
    return np.concatenate([x, np.zeros(silence, np.float32)]), silence


def test_pitch_track_finds_the_f0_of_a_steady_buzz():
    f0, level_db = pitch_track(glide(180.0, 180.0, 0.5))
    voiced = f0[f0 > 0]
    assert voiced.size > 0.8 * f0.size
    assert abs(np.median(voiced) - 180.0) < 5.0
    assert level_db.max() == 0.0


def test_a_falling_and_fading_ending_reads_as_final_a_rising_one_does_not():
    syllables = np.concatenate([glide(200, 200, 0.2), np.zeros(800, np.float32)] * 3)
    falling, n = with_pause(np.concatenate([syllables, glide(200, 120, 0.5, level_end=0.1)]))
    rising, _ = with_pause(np.concatenate([syllables, glide(200, 280, 0.5)]))
    fall, rise = prosody_before_pause(falling, n), prosody_before_pause(rising, n)
    assert fall.f0_end_st < -3.0 < 3.0 < rise.f0_end_st
    assert fall.f0_slope_st_s < 0 < rise.f0_slope_st_s
    assert fall.energy_slope_db_s < -20.0 < rise.energy_slope_db_s
    assert fall.final_run_ratio > 1.5  # the last voiced stretch is longer than the syllables before it


def test_silence_and_noise_give_neutral_prosody():
    assert prosody_before_pause(np.zeros(16000, np.float32), 3200) == NEUTRAL
    noise = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    assert prosody_before_pause(noise, 0) == NEUTRAL


def _weights(text_coef: float = 0.0) -> CourseWeights:
    """A hand-made classifier: the score follows p_now (and p_text when given)."""
    def lin(names, **coef):
        return Logistic(names, (0.0,) * len(names), (1.0,) * len(names),
                        tuple(coef.get(n, 0.0) for n in names), 0.0)
    return CourseWeights(lin(AUDIO_FEATURES, p_now=10.0), lin(TEXT_FEATURES, p_now=10.0, p_text=text_coef),
                         "test")


CTX = NEUTRAL  # the prosody before the silence


def test_policy_commits_at_the_first_call_whose_score_reaches_the_threshold():
    pol = CoursePolicy(_weights(), commit_score=0.99, max_silence_ms=1200)
    assert not pol.add(96, 0.2, None, CTX).commit and not pol.ends(150)
    check = pol.add(192, 0.9, None, CTX)  # sigmoid(9) = 0.9999
    assert check.commit and pol.ends(192) and check.evidence > 0.99
    pol.reset()
    assert not pol.ends(1100) and pol.ends(1200)  # no call yet: only the longest silence ends it


def test_policy_uses_the_text_weights_when_a_transcript_exists():
    pol = CoursePolicy(_weights(text_coef=-20.0), commit_score=0.9, max_silence_ms=1200)
    assert pol.add(96, 0.9, None, CTX).commit
    pol.reset()
    assert not pol.add(96, 0.9, 0.95, CTX).commit  # the text says "unfinished" through its (negative) weight


def test_policy_refuses_to_score_without_the_silences_context():
    with pytest.raises(ValueError, match="context"):
        CoursePolicy(_weights(), 0.5, 1200).add(96, 0.5)


def test_weights_round_trip_and_a_bad_file_is_named(tmp_path):
    path = tmp_path / "w.json"
    _weights(3.0).save(path)
    assert load_weights(path) == _weights(3.0)
    d = json.loads(path.read_text())
    d["audio"]["features"] = d["audio"]["features"][:-1]
    path.write_text(json.dumps(d))
    with pytest.raises(UserError, match=r"w\.json.*features"):
        load_weights(path)
    d = json.loads(path.read_text())
    d["format"] = 99
    path.write_text(json.dumps(d))
    with pytest.raises(UserError, match="format"):
        load_weights(path)


def test_the_shipped_weights_load_and_say_what_they_were_fitted_on():
    w = load_weights(DEFAULT_WEIGHTS)
    assert w.audio.features == AUDIO_FEATURES and w.audio_text.features == TEXT_FEATURES
    assert "TRAIN" in w.provenance


def test_full_duplex_takes_its_own_operating_point(tmp_path):
    path = tmp_path / "w.json"
    _weights().save(path)
    cfg = EndOfTurnConfig(policy="course", course_weights=str(path), commit_score=0.9,
                          full_duplex_commit_score=0.3)
    assert make_policy(cfg, full_duplex=False)._threshold == 0.9
    assert make_policy(cfg, full_duplex=True)._threshold == 0.3
    engine = dataclasses.replace(EngineConfig(), end_of_turn=cfg, duplex="headphones")
    det = make_detector(engine, scorer=object())
    assert isinstance(det, SemanticTurnDetector) and det._policy._threshold == 0.3


def test_detector_commits_on_the_course_policy_with_prosody_measured_once(tmp_path):
    path = tmp_path / "w.json"
    _weights().save(path)
    cfg = EndOfTurnConfig(policy="course", course_weights=str(path), commit_score=0.99, first_check_ms=96,
                          speculate_at_ms=96, check_every_ms=96, max_silence_ms=1200)

    class Rising:
        def __init__(self):
            self.calls = 0

        def score(self, samples):
            self.calls += 1
            return TurnScore(0.2 if self.calls < 3 else 0.95, 0.0)

    scorer = Rising()
    det = SemanticTurnDetector(VadConfig(), cfg, scorer)
    speech = glide(180, 150, 1.0)
    frames = [speech[i:i + VAD_FRAME] for i in range(0, speech.size - VAD_FRAME + 1, VAD_FRAME)]
    events = []
    for f in frames:
        events += det.feed(f, 0.9)
    silent = np.zeros(VAD_FRAME, np.float32)
    fed = ((k + 1, det.feed(silent, 0.0)) for k in range(40))
    frames_to_commit, turn = next((k, e) for k, evs in fed for e in evs if type(e).__name__ == "Turn")
    # calls at 96, 192, 288 ms of silence; the third says 0.95 -> commit
    assert scorer.calls == 3 and frames_to_commit * 32 == 288
    course = turn.course  # the calls and the operating point travel with the turn (the app's inspector)
    assert course.policy == "course" and [c.silence_ms for c in course.checks] == pytest.approx([96, 192, 288])
    assert [c.commit for c in course.checks] == [False, False, True] and course.checks[-1].evidence >= 0.99
    assert (course.commit, course.hold, course.required_ms, course.max_silence_ms) == (0.99, None, 288, 1200)
