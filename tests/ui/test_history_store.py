"""The archive of past conversations (app/window/history.py) and the journal's filing into it, without Qt."""

from __future__ import annotations

import json
import os

import pytest

from app.window.history import ConversationHistory, title_of
from app.window.journal import ConversationJournal
from core.engine.events import ReplyEnded, ReplyText, UserTextSubmitted
from core.lm.events import StopReason, TextDelta
from testing.journal_events import spoken, typed


def _journal(tmp_path) -> ConversationJournal:
    return ConversationJournal(tmp_path / "data")


def test_a_new_conversation_files_the_old_one_with_its_title_and_turns(tmp_path):
    j = _journal(tmp_path)
    typed(j, 1, "Where is the nearest bakery?", "Two streets down.")
    typed(j, 2, "Is it open now?", "Until six.")
    entry = j.new_conversation()
    assert entry is not None and not j.dir.exists()  # current/ went into the archive, nothing was deleted
    assert entry.path.parent == j.root / "conversations" and (entry.path / "journal.jsonl").is_file()
    assert entry.title == "Where is the nearest bakery?" and entry.turns == 4
    assert "Until six." in entry.text
    assert abs(entry.started - entry.ended) < 60
    assert [e.id for e in j.history.entries()] == [entry.id]
    # an empty conversation is not filed
    assert j.new_conversation() is None and len(j.history.entries()) == 1


def test_entries_are_newest_first_and_search_matches_any_turn(tmp_path):
    j = _journal(tmp_path)
    typed(j, 1, "Tell me about owls", "Owls hunt at night.")
    old = j.new_conversation()
    typed(j, 2, "Recipe for pancakes", "Flour, eggs and MILK.")
    new = j.new_conversation()
    os.utime(old.path / "journal.jsonl", (1_000_000, 1_000_000))  # the owls talk was long ago
    h = ConversationHistory(j.root / "conversations")
    assert [e.title for e in h.entries()] == ["Recipe for pancakes", "Tell me about owls"]
    assert [e.id for e in h.search("milk")] == [new.id]  # any case, in a reply
    assert [e.id for e in h.search("night owls")] == [old.id]  # every word, anywhere in the conversation
    assert h.search("owls pancakes") == [] and len(h.search("  ")) == 2


def test_a_superseded_turn_is_not_counted_titled_or_searched(tmp_path):
    j = _journal(tmp_path)
    spoken(j, 1, "Tell me a long", answer="Once upon")  # committed early, cut...
    spoken(j, 2, "Tell me a long story about ships", continues=1, answer="A ship sailed.")
    entry = j.new_conversation()
    assert entry.turns == 2 and entry.title == "Tell me a long story about ships"
    assert ConversationHistory(entry.path.parent).search("upon") == []
    replayed = j.history.load(entry)
    assert [t.turn_id for t in replayed.history] == [2, 2]


def test_delete_removes_that_folder_only_and_refuses_others(tmp_path):
    j = _journal(tmp_path)
    typed(j, 1, "keep me", "kept")
    keep = j.new_conversation()
    typed(j, 2, "delete me", "gone")
    gone = j.new_conversation()
    j.history.delete(gone)
    assert not gone.path.exists() and keep.path.is_dir()
    assert [e.id for e in j.history.entries()] == [keep.id]
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    with pytest.raises(ValueError):
        j.history.delete(type(keep)(outside, "x", 0, 0, 0))
    assert outside.is_dir()


def test_start_up_files_the_old_previous_and_a_left_over_pending(tmp_path):
    j = _journal(tmp_path)
    typed(j, 1, "from the old undo", "a")
    j.close()
    os.replace(j.dir, j.root / "previous")
    typed(j, 2, "never answered", "b")
    j.close()
    os.replace(j.dir, j.root / "pending")
    typed(j, 3, "the crash", "c")
    j.close()
    again = _journal(tmp_path)
    pending = again.take_previous()
    assert pending is not None and pending.name == "pending"
    assert sorted(e.title for e in again.history.entries()) == ["from the old undo", "never answered"]
    assert not (again.root / "previous").exists()
    assert again.discard(pending).title == "the crash"  # "No" to the restore offer files it too
    assert len(again.history.entries()) == 3


def test_a_quit_files_the_conversation_and_a_reply_ending_late_goes_with_it(tmp_path):
    j = _journal(tmp_path)
    typed(j, 1, "first", "one")
    j.handle(UserTextSubmitted(2, "second"))
    j.handle(ReplyText(2, TextDelta("two and", ())))
    entry = j.file_away()
    j.handle(ReplyEnded(2, StopReason.CANCELLED, "two and more", "two", True, 0.1, 0.5, 0))  # during the quit
    j.handle(UserTextSubmitted(3, "after the quit"))
    assert not j.dir.exists()  # nothing starts a new current/: the next start offers no restore
    assert _journal(tmp_path).take_previous() is None
    replayed = j.history.load(entry)
    assert [(t.role, t.text) for t in replayed.history][-1] == ("assistant", "two")
    assert j.history.entries()[0].turns == 4  # meta.json rebuilt: the journal grew after it was written


def test_continuing_makes_it_current_and_new_turns_join_it(tmp_path):
    j = _journal(tmp_path)
    typed(j, 1, "old talk", "old answer")
    old = j.new_conversation()
    typed(j, 2, "live talk", "live answer")
    replayed, filed = j.adopt(old)
    assert [t.text for t in replayed.history] == ["old talk", "old answer"]
    assert filed is not None and filed.title == "live talk" and not old.path.exists()
    typed(j, 3, "going on", "went on")
    back = j.new_conversation()
    assert back.title == "old talk" and back.turns == 4
    assert sorted(e.title for e in j.history.entries()) == ["live talk", "old talk"]


def test_a_stale_or_broken_meta_is_rebuilt(tmp_path):
    j = _journal(tmp_path)
    typed(j, 1, "hello there", "hi")
    entry = j.new_conversation()
    (entry.path / "meta.json").write_text("{not json")
    assert j.history.entries()[0].title == "hello there"
    assert json.loads((entry.path / "meta.json").read_text())["title"] == "hello there"


def test_titles_are_the_first_words_cleaned():
    assert title_of("\x01\ufffd  hi\n there ") == "hi there"
    assert title_of("\ufffd\ufffd", 2.04) == "(spoken, 2.0 s)"
    assert title_of(" ".join(["word"] * 12)) == " ".join(["word"] * 10) + "…"
