"""TurnDetector (pure frame logic) and SileroVad on real espeak-ng speech, silence and noise."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from core.turns.config import VAD_FRAME, VAD_FRAME_MS, VadConfig
from core.turns.end_of_turn import EndOfTurnCourse
from core.turns.vad import Discarded, SileroVad, SpeechStart, Turn, TurnCandidate, TurnDetector, TurnResumed


def run(detector: TurnDetector, probs: list[float]) -> list:
    events = []
    for i, p in enumerate(probs):
        frame = np.full(VAD_FRAME, float(i), np.float32)  # frame i is filled with i: shows what was kept
        events += detector.feed(frame, p)
    return events


def frames(ms: float) -> int:
    return int(np.ceil(ms / VAD_FRAME_MS))


def test_turn_has_preroll_and_ends_after_silence():
    cfg = VadConfig(pre_roll_ms=96, min_speech_ms=64, end_silence_ms=320)
    probs = [0.0] * 10 + [0.9] * 20 + [0.0] * 15
    ev = run(TurnDetector(cfg), probs)
    assert isinstance(ev[0], SpeechStart) and ev[0].frame_index == 10
    turns = [e for e in ev if isinstance(e, Turn)]
    assert len(turns) == 1
    t = turns[0]
    assert t.start_frame == 10 - frames(96)  # pre-roll kept
    assert t.samples[0] == t.start_frame  # the first kept frame is the first pre-roll frame
    assert t.speech_end_frame == 30
    assert t.end_frame == 30 + frames(320)  # dispatched exactly when the end silence completes
    assert t.reason == "silence"


def test_short_blip_is_discarded():
    cfg = VadConfig(min_speech_ms=250, end_silence_ms=320)
    ev = run(TurnDetector(cfg), [0.0] * 5 + [0.9] * 3 + [0.0] * 20)
    assert not [e for e in ev if isinstance(e, Turn)]
    assert [e for e in ev if isinstance(e, Discarded)][0].voiced_frames == 3


def test_hysteresis_keeps_mid_probabilities_as_speech():
    cfg = VadConfig(start_threshold=0.6, stop_threshold=0.3, end_silence_ms=320)
    # 0.45 is below start but above stop: it must neither start a turn nor end one
    assert not run(TurnDetector(cfg), [0.45] * 40)
    ev = run(TurnDetector(cfg), [0.9] * 5 + [0.45] * 30 + [0.0] * 12)
    turns = [e for e in ev if isinstance(e, Turn)]
    assert len(turns) == 1 and turns[0].speech_end_frame == 35


def test_pause_shorter_than_end_silence_is_bridged():
    cfg = VadConfig(end_silence_ms=700)
    probs = [0.9] * 20 + [0.0] * frames(500) + [0.9] * 20 + [0.0] * frames(700)
    assert len([e for e in run(TurnDetector(cfg), probs) if isinstance(e, Turn)]) == 1


def test_max_length_cuts_then_waits_for_pause():
    cfg = VadConfig(max_turn_ms=1000, end_silence_ms=320)
    ev = run(TurnDetector(cfg), [0.9] * 100 + [0.0] * 12 + [0.9] * 20 + [0.0] * 12)
    turns = [e for e in ev if isinstance(e, Turn)]
    assert turns[0].reason == "max_length" and turns[0].samples.size == frames(1000) * VAD_FRAME
    assert len(turns) == 2 and turns[1].reason == "silence"  # the monologue's rest is dropped, next turn works


@pytest.mark.parametrize(
    "kw",
    [
        dict(start_threshold=0.3, stop_threshold=0.5),
        dict(end_silence_ms=0),
        dict(max_turn_ms=100),
        dict(pre_roll_ms=-1),
    ],
)
def test_config_is_validated(kw):
    with pytest.raises(ValueError):
        VadConfig(**kw)


def _probs(vad: SileroVad, x16: np.ndarray) -> np.ndarray:
    n = x16.size // VAD_FRAME
    return np.array([vad.prob(x16[i * VAD_FRAME : (i + 1) * VAD_FRAME]) for i in range(n)])


def test_silero_finds_espeak_speech_not_silence_or_noise(speech_factory):
    vad = SileroVad()
    x, rate = speech_factory("Hello, how are you doing today?")
    x16 = soxr.resample(np.concatenate([np.zeros(rate // 2, np.float32), x]), rate, 16000).astype(np.float32)
    p_speech = _probs(vad, x16)
    vad.reset()
    p_silence = _probs(vad, np.zeros(16000, np.float32))
    vad.reset()
    p_noise = _probs(vad, (np.random.default_rng(0).standard_normal(32000) * 0.1).astype(np.float32))
    assert p_speech.max() > 0.9
    assert p_silence.max() < 0.2
    assert np.mean(p_noise > 0.5) < 0.1


def test_candidate_holds_exactly_the_final_turn():
    """Speculative start: after speculate_after_ms of silence a TurnCandidate carries the samples the turn
    will have if the silence goes on to the end of turn."""
    cfg = VadConfig(pre_roll_ms=96, min_speech_ms=64, end_silence_ms=700, speculate_after_ms=250)
    probs = [0.0] * 5 + [0.9] * 20 + [0.0] * 30
    ev = run(TurnDetector(cfg), probs)
    cands = [e for e in ev if isinstance(e, TurnCandidate)]
    turns = [e for e in ev if isinstance(e, Turn)]
    assert len(cands) == 1 and len(turns) == 1 and not any(isinstance(e, TurnResumed) for e in ev)
    assert cands[0].turn.end_frame == 25 + frames(250)  # emitted as the 250 ms of silence complete
    assert cands[0].turn.end_frame < turns[0].end_frame == 25 + frames(700)
    np.testing.assert_array_equal(cands[0].turn.samples, turns[0].samples)
    assert cands[0].turn.start_frame == turns[0].start_frame


def test_candidate_voided_when_speech_resumes():
    cfg = VadConfig(pre_roll_ms=0, min_speech_ms=64, end_silence_ms=700, speculate_after_ms=250)
    probs = [0.9] * 20 + [0.0] * 12 + [0.9] * 10 + [0.0] * 30
    ev = run(TurnDetector(cfg), probs)
    kinds = [type(e).__name__ for e in ev]
    assert kinds == ["SpeechStart", "TurnCandidate", "TurnResumed", "TurnCandidate", "Turn"]
    assert ev[2].frame_index == 32  # the frame where speech came back
    first, final = ev[1].turn, ev[4]
    assert final.samples.size > first.samples.size  # the resumed speech is in the turn
    np.testing.assert_array_equal(ev[3].turn.samples, final.samples)


def test_no_candidate_when_off_too_short_or_not_before_the_end():
    probs = [0.9] * 20 + [0.0] * 30
    for cfg in (
        VadConfig(min_speech_ms=64, end_silence_ms=700, speculate_after_ms=None),  # off
        VadConfig(min_speech_ms=64, end_silence_ms=320, speculate_after_ms=400),  # would come after the end
        VadConfig(min_speech_ms=1000, end_silence_ms=700, speculate_after_ms=250),  # too little speech
    ):
        ev = run(TurnDetector(cfg), probs)
        assert not any(isinstance(e, (TurnCandidate, TurnResumed)) for e in ev), cfg
    # never before the kept tail: a 64 ms setting speculates at the tail, so the samples still match
    ev = run(TurnDetector(VadConfig(min_speech_ms=64, end_silence_ms=700, speculate_after_ms=64)), probs)
    cand = next(e for e in ev if isinstance(e, TurnCandidate))
    np.testing.assert_array_equal(cand.turn.samples, next(e for e in ev if isinstance(e, Turn)).samples)


def test_speculate_after_ms_validated():
    with pytest.raises(ValueError, match="speculate_after_ms"):
        VadConfig(speculate_after_ms=5.0)


def test_a_silence_turn_says_the_vad_alone_ended_it_and_a_cut_turn_has_no_course():
    det = TurnDetector(VadConfig(pre_roll_ms=0, min_speech_ms=64, end_silence_ms=700, max_turn_ms=1000))
    turns = [e for e in run(det, [0.9] * 10 + [0.0] * 30) if isinstance(e, Turn)]
    assert turns[0].reason == "silence"
    assert turns[0].course == EndOfTurnCourse("vad", (), 704.0, 704.0)  # 22 whole frames, no model calls
    cut = [e for e in run(det, [0.9] * 40) if isinstance(e, Turn)]
    assert cut[0].reason == "max_length" and cut[0].course is None
