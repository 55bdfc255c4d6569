"""Crash-safe journal of the window's conversation: every state change of every turn as it happens, in the data dir.

Layout (`<data dir>/journal/`): `current/` is being written; `journal.jsonl` holds one JSON line per change, and
each turn's audio is raw float32 appended to `<role>_<turn_id>.f32`. Every line and every audio chunk is
appended, flushed and fsynced at once, so a crash or a kill loses nothing already said or heard (at most a torn
last line, which the reader skips). The lines (format 2; the first line is `{"op": "format", "version": 2}`):

    audio        a turn's audio starts (user: the whole turn, `samples`, `reason`; assistant: streamed chunks)
    superseded   the user went on after turn N was committed early: N (and its reply) left the model's history
    user_text    a typed turn          transcript   a spoken turn's final transcript
    reply_text   a reply text delta    playing      the reply's first sample was played
    heard        what of the reply had been played and heard so far (`played_s`, `heard_text`), while it plays
    barge_in     the reply was stopped (speech or the stop button)
    reply_end    the reply ended: `reason`, `interrupted`, `heard_text` (what entered the history), `played_s`
    emotion      a final emotion label

The format line also records the wall-clock start (`started`), which the history lists.

`app/window/journal_replay.py` replays them into the turns to show and exactly the model's history. A conversation
is never deleted here: a new conversation (`new_conversation()`) and a clean quit (`file_away()`) file `current/`
into the history (`app/window/history.py`, `journal/conversations/<id>/`); `adopt(entry)` makes an archived one
`current/` again to continue it. Events of turns the filed conversation already had (a reply ending after Ctrl+N
or during the quit) still go into its archived folder, never into the next conversation. On start
`take_previous()` files a left-over `pending/` and the old single-undo `previous/`, then moves a non-empty
`current/` (only a crash or a kill leaves one) to `pending/` for the window to offer; restoring puts it back in
front of the new journal, declining files it in the history. Owned by the GUI thread.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from app.window.history import ConversationEntry, ConversationHistory
from app.window.journal_replay import (
    FORMAT_VERSION,
    LOG_NAME,
    Replayed,
    audio_name,
    journal_lines,
    read_journal,
    replay_journal,
)
from app.window.turns import ASSISTANT, USER
from core.engine.events import (
    BargeIn,
    EngineState,
    ReplyAudio,
    ReplyEnded,
    ReplyText,
    ReplyUnits,
    StateChanged,
    UserTextSubmitted,
    UserTurnCaptured,
)
from core.listeners.events import TurnEmotion, UserTranscript
from core.lm.heard_text import HeardTextTracker, units_heard

log = logging.getLogger(__name__)

__all__ = ["ConversationJournal", "read_journal", "replay_journal"]

JOURNAL_DIR = "journal"
CURRENT, PENDING, PREVIOUS = "current", "pending", "previous"  # previous/: the old single undo, filed on start
ARCHIVE = "conversations"
HEARD_EVERY_S = 0.25  # a `heard` line at most this often while a reply plays (only when the heard text grew)


class _Reply:
    """What the journal knows of the reply being computed: its text and units (which text its audio speaks),
    the audio generated, and when its first sample played."""

    def __init__(self, turn_id: int) -> None:
        self.turn_id = turn_id
        self.tracker = HeardTextTracker()
        self.generated_s = 0.0
        self.playing_since: float | None = None
        self.heard = ""

    def heard_now(self, now: float) -> tuple[float, str]:
        played_s = min(max(0.0, now - (self.playing_since or now)), self.generated_s)
        return played_s, self.tracker.heard_text(units_heard(played_s, self.generated_s, self.tracker.n_units, False))


class ConversationJournal:
    """`handle(event)` journals every change (module doc); `replay_journal(dir)` reads a journal back."""

    def __init__(self, data_root: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.root = Path(data_root) / JOURNAL_DIR
        self.dir = self.root / CURRENT
        self._log: Any = None
        self._audio_started: set[tuple[str, int]] = set()
        self._reply: _Reply | None = None
        self._clock = clock
        self._heard_at = 0.0
        self.failed: str | None = None  # the first write error (the journal stops; the app goes on)
        self.on_failure: Any = None  # called once with that line (the window shows it)
        self.history = ConversationHistory(self.root / ARCHIVE)
        self._turn_ids: set[int] = set()  # the turns journaled into current/ by this process
        self._filed_turns: dict[int, Path] = {}  # turn id -> the archived folder that holds it
        self._quit = False  # after file_away(): nothing more goes into current/

    # -- start-up ---------------------------------------------------------------------------------------------
    def take_previous(self) -> Path | None:
        """A conversation left by a crash or a kill (a clean quit files it), moved aside to `pending/`; None if
        there is none. Files a `pending/` an earlier start never answered and the old `previous/` first."""
        for leftover in (PENDING, PREVIOUS):
            self._file_or_drop(self.root / leftover)
        if not _has_turns(self.dir):
            return None
        pending = self.root / PENDING
        os.replace(self.dir, pending)
        return pending

    def restore(self, pending: Path) -> Replayed:
        """The pending conversation (its turns and the model's history), which becomes the start of the current
        journal. Raises UnreadableJournal (a newer format; the folder stays pending) or OSError."""
        restored = replay_journal(pending)
        self.close()
        current = [ln for ln in journal_lines(self.dir / LOG_NAME) if ln.get("op") != "format"] \
            if self.dir.exists() else []
        shutil.rmtree(self.dir, ignore_errors=True)
        os.replace(pending, self.dir)
        for line in current:  # anything journaled since start-up goes after the restored turns
            self._append(line)
        return restored

    def discard(self, pending: Path) -> ConversationEntry | None:
        """The user declined to restore it: it goes into the history."""
        return self._file_or_drop(pending)

    def new_conversation(self) -> ConversationEntry | None:
        """File the current conversation in the history (None: it had no turns, nothing to keep)."""
        self.close()
        entry = self._file_or_drop(self.dir)
        if entry is not None:
            self._filed_turns.update(dict.fromkeys(self._turn_ids, entry.path))
        self._turn_ids = set()
        self._reply = None
        return entry

    def file_away(self) -> ConversationEntry | None:
        """A clean quit: the conversation goes into the history, so the next start offers no restore."""
        entry = self.new_conversation()
        self._quit = True
        return entry

    def adopt(self, entry: ConversationEntry) -> tuple[Replayed, ConversationEntry | None]:
        """Continue an archived conversation: the current one is filed, `entry` becomes `current/`. Returns its
        replay and the entry the current one was filed as. Raises UnreadableJournal or OSError (nothing moved)."""
        self.history.load(entry)  # a newer format is refused before the current conversation moves
        filed = self.new_conversation()
        replayed = self.history.take_out(entry, self.dir)
        back = {t for t, path in self._filed_turns.items() if path == entry.path}  # its turns are current again
        for t in back:
            del self._filed_turns[t]
        self._turn_ids = back
        return replayed, filed

    def _file_or_drop(self, folder: Path) -> ConversationEntry | None:
        if _has_turns(folder):
            return self.history.file(folder)
        shutil.rmtree(folder, ignore_errors=True)
        return None

    # -- events (GUI thread) ----------------------------------------------------------------------------------
    def handle(self, ev: object) -> None:
        if self.failed is not None:
            return
        tid = getattr(ev, "turn_id", None)
        filed = self._filed_turns.get(tid) if isinstance(tid, int) else None
        if (filed is None and self._quit) or (filed is not None and not filed.is_dir()):  # deleted since
            return
        try:
            if filed is not None:
                with self._into(filed):
                    self._handle(ev)
                return
            if isinstance(tid, int):
                self._turn_ids.add(tid)
            self._handle(ev)
            self._note_heard()
        except OSError as err:  # a full disk must not take the conversation down
            self.failed = f"The conversation journal stopped ({err}); export the conversation to keep it."
            log.warning("%s", self.failed)
            if self.on_failure is not None:
                self.on_failure(self.failed)

    def _handle(self, ev: object) -> None:
        reply = self._reply
        if isinstance(ev, UserTurnCaptured):
            if ev.continues_turn is not None:  # before the new turn: replay drops N, then adds this one
                self._append({"op": "superseded", "turn_id": ev.continues_turn, "by": ev.turn_id})
            self._reply = _Reply(ev.turn_id)
            self._append_audio(USER, ev.turn_id, ev.samples, ev.sample_rate_hz,
                               {"samples": int(ev.samples.size), "reason": ev.reason})
        elif isinstance(ev, UserTextSubmitted):
            self._reply = _Reply(ev.turn_id)
            self._append({"op": "user_text", "turn_id": ev.turn_id, "text": ev.text})
        elif isinstance(ev, UserTranscript) and ev.turn_id is not None and ev.is_final:
            self._append({"op": "transcript", "turn_id": ev.turn_id, "text": ev.text})
        elif isinstance(ev, ReplyText):
            if reply is not None and reply.turn_id == ev.turn_id:
                reply.tracker.add_text(ev.delta.text)
            self._append({"op": "reply_text", "turn_id": ev.turn_id, "text": ev.delta.text})
        elif isinstance(ev, ReplyUnits):
            if reply is not None and reply.turn_id == ev.turn_id:
                reply.tracker.add_units(len(ev.units.units))
        elif isinstance(ev, ReplyAudio):
            if reply is not None and reply.turn_id == ev.turn_id and ev.chunk.sample_rate_hz:
                reply.generated_s += ev.chunk.samples.size / ev.chunk.sample_rate_hz
            self._append_audio(ASSISTANT, ev.turn_id, ev.chunk.samples, ev.chunk.sample_rate_hz)
        elif isinstance(ev, StateChanged) and ev.new is EngineState.SPEAKING and reply is not None:
            if reply.playing_since is None:
                reply.playing_since = self._heard_at = self._clock()
                self._append({"op": "playing", "turn_id": reply.turn_id})
        elif isinstance(ev, BargeIn):
            if reply is not None and reply.turn_id == ev.turn_id:
                self._write_heard(reply)  # up to the stop; reply_end follows with the engine's own count
                reply.playing_since = None
            self._append({"op": "barge_in", "turn_id": ev.turn_id, "speech_ms": round(float(ev.speech_ms), 1)})
        elif isinstance(ev, ReplyEnded):
            if reply is not None and reply.turn_id == ev.turn_id:
                self._reply = None
            self._append({"op": "reply_end", "turn_id": ev.turn_id, "reason": ev.reason.value,
                          "interrupted": ev.interrupted, "heard_text": ev.heard_text,
                          "played_s": round(float(ev.played_s), 3), "error": ev.error})
        elif isinstance(ev, TurnEmotion) and ev.turn_id is not None and ev.is_final:
            role = USER if ev.emotion.source == "user" else ASSISTANT
            self._append({"op": "emotion", "role": role, "turn_id": ev.turn_id, "label": ev.emotion.label,
                          "confidence": float(ev.emotion.confidence)})

    def _note_heard(self) -> None:
        """Any event (mic levels arrive every 100 ms) may note how much of the playing reply was heard by now."""
        reply = self._reply
        if reply is None or reply.playing_since is None or self._clock() - self._heard_at < HEARD_EVERY_S:
            return
        self._write_heard(reply)

    def _write_heard(self, reply: _Reply) -> None:
        if reply.playing_since is None:
            return
        self._heard_at = now = self._clock()
        played_s, heard = reply.heard_now(now)
        if heard != reply.heard:
            reply.heard = heard
            self._append({"op": "heard", "turn_id": reply.turn_id, "played_s": round(played_s, 3),
                          "heard_text": heard})

    def _append_audio(self, role: str, turn_id: int, samples: np.ndarray, rate_hz: int,
                      extra: dict | None = None) -> None:
        key = (role, turn_id)
        if key not in self._audio_started:  # the line first: a crash mid-chunk still finds the file
            self._audio_started.add(key)
            self._append({"op": "audio", "role": role, "turn_id": turn_id, "rate_hz": int(rate_hz), **(extra or {})})
        with open(self.dir / audio_name(role, turn_id), "ab") as f:
            f.write(np.ascontiguousarray(samples, dtype="<f4").tobytes())
            f.flush()
            os.fsync(f.fileno())

    def _append(self, line: dict) -> None:
        if self._log is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            path = self.dir / LOG_NAME
            fresh = not path.exists() or path.stat().st_size == 0
            self._log = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
            if fresh:
                self._log.write(json.dumps({"op": "format", "version": FORMAT_VERSION,
                                            "started": round(time.time(), 3)}) + "\n")
        self._log.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._log.flush()
        os.fsync(self._log.fileno())

    @contextmanager
    def _into(self, filed: Path) -> Iterator[None]:
        """Write to a filed conversation's folder: a turn it holds changed after it was filed."""
        current = self.dir, self._log, self._reply
        self.dir, self._log = filed, None
        try:
            yield
        finally:
            self.close()
            self.dir, self._log, self._reply = current

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def _has_turns(directory: Path) -> bool:
    return any(ln.get("op") != "format" for ln in journal_lines(directory / LOG_NAME))
