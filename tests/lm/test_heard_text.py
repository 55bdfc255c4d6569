"""Played audio -> heard text through the interleave schedule."""

from __future__ import annotations

from core.lm.heard_text import UNIT_RATE_HZ, HeardTextTracker, units_heard


def tracker() -> HeardTextTracker:
    t = HeardTextTracker()
    for word in ("one ", "two ", "three ", "four "):
        t.add_text(word)
        t.add_units(10)
        t.add_units(10)  # same run: units for this word
    return t


def test_nothing_played_nothing_heard():
    assert tracker().heard_text(0) == ""


def test_end_of_a_run_means_its_text_was_heard():
    t = tracker()
    assert t.heard_text(20) == "one"
    assert t.heard_text(40) == "one two"
    assert t.heard_text(33) == "one"  # mid-word is cut back to the last whole word


def test_unfinished_reply_never_claims_text_without_units():
    t = tracker()
    t.add_text("five six")  # text with no units yet
    assert t.heard_text(80) == "one two three four"
    t.finish()
    assert t.heard_text(80) == "one two three four five six"


def test_units_heard_uses_nominal_rate_until_flushed():
    assert units_heard(2.0, 10.0, 50, vocoder_flushed=False) == 2.0 * UNIT_RATE_HZ
    assert units_heard(2.0, 4.0, 50, vocoder_flushed=True) == 25.0
