"""Semantic end of turn: the policy on the probability's course, the detector around the VAD (scripted scorer,
scripted VAD probabilities), and the Smart Turn model file found and run through our onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from core.engine.config import EngineConfig
from core.turns.config import VAD_FRAME, EndOfTurnConfig, VadConfig
from core.turns.end_of_turn import SilencePolicy
from core.turns.semantic import ContinuedAfterCommit, SemanticTurnDetector, make_detector
from core.turns.smart_turn import SmartTurnUnavailable, TurnScore, find_model_file, load_smart_turn
from core.turns.vad import Turn, TurnCandidate, TurnDetector, TurnResumed


class Scripted:
    """A scorer whose probability depends on the call count (or is fixed)."""

    def __init__(self, probs) -> None:
        self.probs, self.calls = list(probs), []

    def score(self, samples):
        self.calls.append(samples.size)
        p = self.probs[min(len(self.calls) - 1, len(self.probs) - 1)]
        return TurnScore(p, 0.0)


def feed(det, pattern: str) -> list:
    """pattern: one char per 32 ms frame, 'v' voiced (p 0.9), '.' silent (p 0.0)."""
    out = []
    for ch in pattern:
        frame = np.full(VAD_FRAME, 0.01 if ch == "v" else 0.0, np.float32)
        out += [(det.frame_index - 1, ev) for ev in det.feed(frame, 0.9 if ch == "v" else 0.0)]
    return out


def test_config_validates_and_required_silence_falls_with_evidence():
    cfg = EndOfTurnConfig(first_check_ms=160, hold_prob=0.2, commit_prob=0.8, max_silence_ms=1200)
    assert cfg.required_silence_ms(0.9) == 160 and cfg.required_silence_ms(0.1) == 1200
    assert cfg.required_silence_ms(0.5) == pytest.approx(680)
    with pytest.raises(ValueError, match="hold_prob"):
        EndOfTurnConfig(hold_prob=0.9, commit_prob=0.5)
    with pytest.raises(ValueError, match="max_silence_ms"):
        EndOfTurnConfig(first_check_ms=500, max_silence_ms=300)


def test_policy_uses_the_course_not_one_instant():
    pol = SilencePolicy(EndOfTurnConfig(first_check_ms=160, hold_prob=0.2, commit_prob=0.8, max_silence_ms=1200))
    assert not pol.add(160, 0.1).commit  # low: wait
    c = pol.add(256, 0.95)  # one spike: the mean (0.525) needs ~650 ms
    assert not c.commit and c.evidence == pytest.approx(0.525)
    assert pol.ends(700)
    pol.reset()
    assert pol.add(160, 0.9).commit  # high from the first check: commit at once
    pol.reset()
    assert pol.add(160, 0.1, text_prob=0.95).evidence == pytest.approx(0.525)  # text mixed in (weight 0.5)


def _det(probs, **kw) -> tuple[SemanticTurnDetector, Scripted]:
    scorer = Scripted(probs)
    # the mean rule at its pre-issue-32 schedule (the course policy: test_course.py)
    cfg = EndOfTurnConfig(**{"policy": "mean", "first_check_ms": 160.0, "max_silence_ms": 1500.0, **kw})
    return SemanticTurnDetector(VadConfig(pre_roll_ms=0, min_speech_ms=64), cfg, scorer), scorer


def test_high_probability_commits_at_the_first_check_with_the_candidates_samples():
    det, scorer = _det([0.95])
    events = feed(det, "v" * 20 + "." * 10)
    cands = [e for _, e in events if isinstance(e, TurnCandidate)]
    turns = [(i, e) for i, e in events if isinstance(e, Turn)]
    assert len(cands) == 1 and len(turns) == 1
    index, turn = turns[0]
    assert turn.reason == "semantic" and index == 19 + 5  # 5 silent frames = 160 ms
    np.testing.assert_array_equal(turn.samples, cands[0].turn.samples)  # a speculated reply is adopted
    assert scorer.calls == [25 * VAD_FRAME]  # the model heard speech and the whole silence so far


def test_low_probability_waits_for_the_longest_silence_and_keeps_the_turn_whole():
    det, scorer = _det([0.05], max_silence_ms=1200)
    events = feed(det, "v" * 20 + "." * 20 + "v" * 20 + "." * 40)  # a 640 ms pause inside
    turns = [e for _, e in events if isinstance(e, Turn)]
    assert len(turns) == 1 and turns[0].reason == "silence" and not turns[0].continues
    assert any(isinstance(e, TurnResumed) for _, e in events)  # the first pause's candidate was voided
    assert turns[0].samples.size == (20 + 20 + 20 + 3) * VAD_FRAME  # + 96 ms tail (the candidate's)


def test_a_turn_carries_the_model_calls_of_the_silence_that_ended_it_and_the_thresholds():
    det, _ = _det([0.1, 0.95])  # the first call says "not finished", then "finished"
    events = feed(det, "v" * 20 + "." * 40)
    turn = next(e for _, e in events if isinstance(e, Turn))
    course = turn.course
    assert turn.reason == "semantic" and course is not None and course.policy == "mean"
    assert [c.silence_ms for c in course.checks] == pytest.approx([160, 256, 352, 448])
    assert [c.audio_prob for c in course.checks] == [0.1, 0.95, 0.95, 0.95]
    assert [c.commit for c in course.checks] == [False, False, False, True]
    assert course.checks[-1].evidence == pytest.approx((0.1 + 3 * 0.95) / 4)
    assert (course.commit, course.hold, course.first_check_ms, course.max_silence_ms) == (0.8, 0.3, 160, 1500)
    # evidence 0.7375 needs 1500 - (0.7375 - 0.3) / 0.5 * 1340 ms of silence
    assert course.required_ms == pytest.approx(327.5)


def test_a_turn_carries_only_its_last_silence_and_the_longest_silence_says_so():
    det, _ = _det([0.1, 0.2, 0.95], max_silence_ms=1200)
    events = feed(det, "v" * 20 + "." * 9 + "v" * 20 + "." * 40)  # calls at 160 and 256 ms in the first pause
    turn = next(e for _, e in events if isinstance(e, Turn))
    assert [c.silence_ms for c in turn.course.checks] == pytest.approx([160])  # the second pause's call alone
    det, _ = _det([0.05], max_silence_ms=1200)
    events = feed(det, "v" * 20 + "." * 40)
    turn = next(e for _, e in events if isinstance(e, Turn))
    assert turn.reason == "silence" and turn.course.policy == "mean"
    assert len(turn.course.checks) >= 10 and not any(c.commit for c in turn.course.checks)
    assert turn.course.required_ms == 1200  # evidence at or below hold_prob: the longest silence


def test_speech_soon_after_an_early_commit_continues_the_same_turn():
    det, _ = _det([0.95], rejoin_ms=1000)
    events = feed(det, "v" * 20 + "." * 15 + "v" * 20 + "." * 10)
    kinds = [type(e).__name__ for _, e in events if not isinstance(e, TurnCandidate)]
    assert kinds == ["SpeechStart", "Turn", "SpeechStart", "ContinuedAfterCommit", "Turn"]
    first, second = [e for _, e in events if isinstance(e, Turn)]
    assert first.reason == "semantic" and not first.continues and second.continues
    cont = next(i for i, e in events if isinstance(e, ContinuedAfterCommit))
    assert cont - (20 + 15) == 1  # after min_speech_ms (64 ms) of voice, not at the first frame
    # a long gap after the commit: a new turn
    det, _ = _det([0.95], rejoin_ms=300)
    events = feed(det, "v" * 20 + "." * 20 + "v" * 20 + "." * 10)
    assert [e.continues for _, e in events if isinstance(e, Turn)] == [False, False]
    assert not any(isinstance(e, ContinuedAfterCommit) for _, e in events)


def test_make_detector_falls_back_to_the_vad():
    assert isinstance(make_detector(EngineConfig(), None), TurnDetector)
    off = EngineConfig(end_of_turn=EndOfTurnConfig(semantic=False))
    assert isinstance(make_detector(off, Scripted([0.5])), TurnDetector)
    assert isinstance(make_detector(EngineConfig(), Scripted([0.5])), SemanticTurnDetector)


def test_missing_model_is_off_with_a_reason(tmp_path):
    with pytest.raises(SmartTurnUnavailable, match="does not exist"):
        find_model_file(tmp_path / "nope.onnx")
    model, status = load_smart_turn(tmp_path / "nope.onnx")
    assert model is None and status.startswith("off — ") and "VAD" in status
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    model, status = load_smart_turn(bad)
    assert model is None and "cannot load" in status


def test_smart_turn_model_runs_on_our_onnxruntime():
    path = find_model_file()  # SmartTurnUnavailable names the missing package (.ci/install installs it)
    model, status = load_smart_turn(path)
    assert model is not None and status.startswith("on")
    feats = model.features(np.zeros(16000, np.float32))
    assert feats.shape == (1, 80, 800) and feats.dtype == np.float32
    rng = np.random.default_rng(0)
    p = model.score(rng.standard_normal(32000).astype(np.float32) * 0.1).prob
    assert 0.0 <= p <= 1.0


def test_lexical_text_signal():
    from core.turns.text_eou import FINISHED_P, UNDECIDED_P, UNFINISHED_P, LexicalEndOfUtterance

    lex = LexicalEndOfUtterance()
    assert lex.prob("") is None
    assert lex.prob("What time is it?") == FINISHED_P
    assert lex.prob("My favourite colour is") == UNFINISHED_P
    assert lex.prob("Tell me a story about") == UNFINISHED_P
    assert lex.prob("I went to the store,") == UNFINISHED_P
    assert lex.prob("The meeting is on Tuesday") == UNDECIDED_P


def test_llm_text_signal_reads_the_end_of_message_token(tiny_checkpoint):
    import torch

    from core.lm.runner import OpenS2SRunner
    from core.turns.text_eou import LlmEndOfUtterance

    runner = OpenS2SRunner.load(tiny_checkpoint)
    eou = LlmEndOfUtterance.from_runner(runner)
    ids, close = eou.split("hello there")
    tok = runner.ckpt.tokenizer
    assert tok.decode(ids).endswith("hello there") and close not in ids[-1:]
    rendered = tok.apply_chat_template([{"role": "user", "content": "hello there"}], tokenize=False)
    assert rendered.startswith(tok.decode(ids)) and tok.decode([close]) in rendered[len(tok.decode(ids)):]
    p = eou.prob("hello there")
    with torch.inference_mode():  # the same number from a direct forward
        logits = runner.model.llm_model(input_ids=torch.tensor([ids])).logits[0, -1]
    assert p == pytest.approx(float(torch.softmax(logits.float(), -1)[close]), rel=1e-5)
    assert 0.0 < p < 1.0 and eou.prob("  ") is None
