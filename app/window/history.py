"""The archive of past conversations: every conversation the window journaled, kept until the user deletes it.

Layout (`<data dir>/journal/conversations/<id>/`): each folder is a journal exactly as `current/` was written
(`app/window/journal.py`: `journal.jsonl` plus the turns' `.f32` audio) and a `meta.json` derived by replaying it:
title (the first user words), started / ended (wall clock), the number of turns shown and their text (for search).
The id is the start time, `YYYYmmdd-HHMMSS` (`-2`, `-3`… when taken). A missing or stale `meta.json` (the journal
grew after it was written, or the app stopped between the move and the write) is rebuilt when listed.

Conversations get here by a new conversation (Ctrl+N), a clean quit, "No" to the restore offer after a crash,
and, once, from the old `previous/` and a left-over `pending/` folder. Nothing here deletes a conversation except
`delete(entry)`, which removes that one folder and refuses any path that is not a folder of this archive.
No Qt: the window (ui/history_view.py) and the tests use it directly.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from app.window.journal_replay import LOG_NAME, Replayed, UnreadableJournal, journal_lines, replay_journal
from app.window.turns import USER, write_text_durably

log = logging.getLogger(__name__)

META_NAME = "meta.json"
META_VERSION = 1
TITLE_WORDS = 10
TITLE_CHARS = 70
ID_FORMAT = "%Y%m%d-%H%M%S"


@dataclass(frozen=True)
class ConversationEntry:
    """One archived conversation, as listed (its turns: `ConversationHistory.load`)."""

    path: Path
    title: str
    started: float  # wall-clock seconds (time.time())
    ended: float
    turns: int  # turns shown (user and assistant; superseded ones not counted)
    text: str = field(default="", repr=False)  # every shown turn's text, for search

    @property
    def id(self) -> str:
        return self.path.name

    def matches(self, query: str) -> bool:
        """Every word of `query` appears (any case) in the title or in some turn."""
        hay = f"{self.title}\n{self.text}".casefold()
        return all(word in hay for word in query.casefold().split())


class ConversationHistory:
    """The folder of archived conversations (module doc)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- filing -------------------------------------------------------------------------------------------------
    def file(self, src: Path) -> ConversationEntry:
        """Move the journal folder `src` into the archive (one rename, same disk) and write its meta.json."""
        self.root.mkdir(parents=True, exist_ok=True)
        dest = self._free_id(_started(src) or time.time())
        os.replace(src, dest)
        log.info("conversation filed in the history as %s", dest.name)
        return self._entry(dest, rebuild=True) or _bare_entry(dest)

    def take_out(self, entry: ConversationEntry, dest: Path) -> Replayed:
        """Continue `entry`: its folder becomes `dest` (the journal's current/, absent) and its replay is returned.
        Raises UnreadableJournal (the folder stays where it is) or OSError."""
        path = self._own(entry.path)
        replayed = replay_journal(path)  # refuses a newer format before anything moves
        (path / META_NAME).unlink(missing_ok=True)
        os.replace(path, dest)
        log.info("conversation %s taken out of the history to continue it", path.name)
        return replayed

    def delete(self, entry: ConversationEntry) -> None:
        """Remove that conversation's folder for good (and nothing else)."""
        path = self._own(entry.path)
        shutil.rmtree(path)
        log.info("conversation %s deleted from the history", path.name)

    # -- reading ------------------------------------------------------------------------------------------------
    def entries(self) -> list[ConversationEntry]:
        """Every readable archived conversation, the most recently active first."""
        try:
            folders = [p for p in self.root.iterdir() if p.is_dir() and not p.is_symlink()]
        except OSError:
            return []
        found = [e for e in (self._entry(p) for p in folders) if e is not None]
        return sorted(found, key=lambda e: (e.ended, e.started, e.id), reverse=True)

    def search(self, query: str) -> list[ConversationEntry]:
        return [e for e in self.entries() if e.matches(query)]

    def load(self, entry: ConversationEntry) -> Replayed:
        """Its turns (superseded ones marked) and the model's history. Raises UnreadableJournal or OSError."""
        return replay_journal(self._own(entry.path))

    def has_any(self) -> bool:
        try:
            return any(p.is_dir() for p in self.root.iterdir())
        except OSError:
            return False

    # -- internals ----------------------------------------------------------------------------------------------
    def _own(self, path: Path) -> Path:
        """`path` if it is a folder directly inside the archive (never a link); else ValueError."""
        path = Path(path)
        if path.parent.resolve() != self.root.resolve() or path.is_symlink() or not path.is_dir():
            raise ValueError(f"{path} is not a conversation of the history in {self.root}")
        return path

    def _free_id(self, started: float) -> Path:
        base = time.strftime(ID_FORMAT, time.localtime(started))
        dest, n = self.root / base, 1
        while dest.exists():
            n += 1
            dest = self.root / f"{base}-{n}"
        return dest

    def _entry(self, path: Path, rebuild: bool = False) -> ConversationEntry | None:
        """From meta.json while it matches the journal's size; else replayed and written again."""
        try:
            size = (path / LOG_NAME).stat().st_size
        except OSError:
            return None  # not a journal folder
        meta = None if rebuild else _read_meta(path)
        if meta is None or meta.get("journal_bytes") != size:
            try:
                meta = _derive_meta(path, size)
            except (UnreadableJournal, OSError) as err:
                log.info("history: skipping %s (%s)", path.name, err)
                return None
            try:
                write_text_durably(path / META_NAME, json.dumps(meta, ensure_ascii=False))
            except OSError as err:  # a read-only disk: listed anyway, rebuilt next time
                log.info("history: could not write %s (%s)", path / META_NAME, err)
        return ConversationEntry(path, str(meta["title"]), float(meta["started"]), float(meta["ended"]),
                                 int(meta["turns"]), str(meta["text"]))


def _bare_entry(path: Path) -> ConversationEntry:
    now = time.time()
    return ConversationEntry(path, "(unreadable conversation)", now, now, 0)


def _read_meta(path: Path) -> dict | None:
    try:
        meta = json.loads((path / META_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    keys = ("title", "started", "ended", "turns", "text", "journal_bytes")
    if not isinstance(meta, dict) or meta.get("version") != META_VERSION or any(k not in meta for k in keys):
        return None
    return meta


def _derive_meta(path: Path, size: int) -> dict:
    replayed = replay_journal(path)
    shown = [r for r in replayed.log.turns if not r.superseded]
    ended = (path / LOG_NAME).stat().st_mtime
    first_user = next((r for r in shown if r.role == USER), None)
    return {
        "version": META_VERSION,
        "title": title_of(first_user.text if first_user else "", first_user.audio_s if first_user else 0.0),
        "started": _started(path) or ended,
        "ended": ended,
        "turns": len(shown),
        "text": "\n".join(t for t in (readable(r.text) for r in shown) if t),
        "journal_bytes": size,
    }


def _started(path: Path) -> float | None:
    """The wall-clock start the journal's format line records (journals before it have none)."""
    for line in journal_lines(path / LOG_NAME):
        started = line.get("started") if line.get("op") == "format" else None
        return float(started) if isinstance(started, int | float) and not isinstance(started, bool) else None
    return None


def readable(text: str) -> str:
    """Text without control characters or U+FFFD (random-weight transcripts), whitespace collapsed."""
    kept = (" " if ch.isspace() else "" if unicodedata.category(ch)[0] == "C" or ch == "\ufffd" else ch
            for ch in text)
    return " ".join("".join(kept).split())


def title_of(first_user_text: str, audio_s: float = 0.0) -> str:
    """The first words the user said or typed; a spoken turn without a transcript is named by its length."""
    words = readable(first_user_text).split()
    if not words:
        return f"(spoken, {audio_s:.1f} s)" if audio_s else "(no words)"
    title = " ".join(words[:TITLE_WORDS])
    if len(title) > TITLE_CHARS:
        title = title[: TITLE_CHARS - 1].rstrip()
    return title if title == " ".join(words) else title + "…"
