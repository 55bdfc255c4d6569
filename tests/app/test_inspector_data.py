"""The inspector's per-turn records, assembled from synthetic session events: why each turn ended, its timings from
the end of speech, what happened over its reply, and the plot's data."""

from __future__ import annotations

import pytest

from app.window.inspector_data import ONSET, HeardLog
from core.engine.events import BargeIn
from core.turns.end_of_turn import Check, EndOfTurnCourse
from testing.inspector_events import session_events, spoken


def _log(events) -> HeardLog:
    log = HeardLog()
    for ev in events:
        log.handle(ev)
    return log


def _rows(rec) -> dict[str, float | None]:
    return dict(rec.timings())


def test_an_early_commit_says_the_score_beat_the_operating_point_and_times_the_reply_from_the_end_of_speech():
    rec = _log(session_events()).turns[1]
    assert rec.decision == "ended by the end-of-turn model"
    assert rec.why() == "Score 0.82 ≥ commit 0.70 after 384 ms of silence."
    rows = _rows(rec)
    assert rows["end of speech"] == 0.0
    assert rows["decision (turn dispatched)"] == pytest.approx(390.0)  # 384 ms of silence + 6 ms deciding
    assert rows["speculative reply started"] == pytest.approx(100.0)
    assert rows["first text"] == pytest.approx(520.0) and rows["first sound"] == pytest.approx(810.0)
    assert rec.transcript.startswith("Tell me") and rec.reply == "played out (7.4 s)"


def test_the_longest_silence_says_the_score_stayed_below_and_lists_the_pause_and_resume_over_the_reply():
    rec = _log(session_events()).turns[2]
    assert rec.decision == "ended by the silence"
    assert rec.why() == ("Silence reached max_silence_ms 1152 ms: the score stayed at 0.41 (< commit 0.70) "
                         "over 11 model calls.")
    labels = [label for label, _ in rec.timings()]
    assert labels == ["end of speech", "decision (turn dispatched)", "first text", "first sound", ONSET,
                      "reply paused (192 ms of speech over it)", "reply resumed (a 224 ms backchannel)"]
    assert [ms for _, ms in rec.timings()][-3:] == pytest.approx([4100.0, 4330.0, 4710.0])


def test_a_barge_in_shares_the_onset_of_the_pause_before_it_and_a_typed_turn_is_timed_from_its_dispatch():
    log = _log(session_events())
    rec = log.turns[3]
    log.handle(BargeIn(3, 500.0, rec.over_reply[0][1], rec.speech_end_t + 2.8))  # same onset: listed once
    assert [label for label, _ in rec.over_reply].count(ONSET) == 1
    assert rec.reply == "interrupted after 1.9 s played"
    typed = log.turns[4]
    assert typed.why() == "Typed and sent with Enter: nothing to listen for."
    assert _rows(typed) == pytest.approx({"dispatch": 0.0, "first text": 210.0, "first sound": 500.0})
    assert typed.series() is None


def test_the_mean_rule_says_how_much_silence_its_evidence_needed():
    eot = EndOfTurnCourse("mean", (Check(160, 0.1, None, 0.1, False), Check(448, 0.95, None, 0.74, True)), 1500.0,
                          327.5, 0.8, 0.3, 160.0)
    rec = _log([spoken(7, 2.0, 448, "semantic", eot)]).turns[7]
    assert rec.why() == ("Evidence 0.74 (between hold 0.30 and commit 0.80) needs 328 ms of silence; the pause "
                         "reached 448 ms.")
    s = rec.series()
    assert s.evidence_label == "evidence" and (s.commit, s.hold) == (0.8, 0.3)
    assert s.audio == ((160, 0.1), (448, 0.95)) and s.text == () and s.decision == (448.0, 0.74)


def test_turns_without_a_model_say_what_ended_them():
    vad = EndOfTurnCourse("vad", (), 704.0, 704.0)
    log = _log([spoken(1, 2.0, 704, "silence", vad), spoken(2, 40.0, 0, "max_length", None, length_s=30.0),
                spoken(3, 50.0, 0, "submitted", None)])
    assert log.turns[1].why() == ("Silence reached end_silence_ms 704 ms after 704 ms (no end-of-turn model: the "
                                  "VAD's silence alone).")
    assert log.turns[1].series() is None
    assert log.turns[2].why() == "The turn reached the maximum length (30.0 s) and was cut mid-speech."
    assert log.turns[3].why() == "You released the talk key (push-to-talk): no end-of-turn decision."
    assert [label for label, _ in log.turns[3].timings()] == ["dispatch", "first text", "first sound"]


def test_a_continued_early_commit_points_to_the_turn_that_replaced_it_and_old_records_are_dropped():
    eot = EndOfTurnCourse("course", (Check(96, 0.9, None, 0.9, True),), 1152.0, 96.0, 0.7)
    log = HeardLog(keep=2)
    changed = []
    log.on_change = changed.append
    for ev in (spoken(1, 2.0, 96, "semantic", eot), spoken(2, 4.0, 96, "semantic", eot, continues=1),
               spoken(3, 9.0, 96, "semantic", eot)):
        log.handle(ev)
    assert list(log.turns) == [2, 3] and changed == [1, 2, 3]
    assert log.turns[2].continues == 1
    log = _log([spoken(1, 2.0, 96, "semantic", eot), spoken(2, 4.0, 96, "semantic", eot, continues=1)])
    assert log.turns[1].continued_by == 2
    assert log.handle(BargeIn(99, 300.0, 1.0, 1.2)) is None  # a turn it never saw: ignored
