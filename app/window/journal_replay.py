"""Reading a conversation journal back: the turns to show, and exactly the history the model had.

The journal (`app/window/journal.py`) is a log of every state change a turn goes through, in the order the engine
made it. Replaying it applies each change to two results:

- `log` (`ConversationLog`): every turn's text, labels and audio for the window and the export; a turn the user
  went on with after an early commit stays in it, marked `superseded` (not shown).
- `history`: what the engine's `Conversation` held, turn by turn: `user_audio` / `user_text` append a user turn,
  `reply_end` appends the reply's *heard* text, `superseded N` removes user turn N and everything after it (the
  engine's `continuation.merge`), so a restored model never sees a half sentence and the reply to it.

A reply the journal saw start but never end (a crash or a kill) enters the history with the text heard by the
last `heard` line (what had been played), or "" when nothing had played: what `Engine.stop()` would have kept.
A journal without a `format` line (written before format 2) replays the same way; it has no `superseded` or
`heard` lines, so a continued turn's early part stays and an unfinished reply counts as unheard. A journal of a
newer format is refused with one line (`UnreadableJournal`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.window.turns import ASSISTANT, USER, ConversationLog

log = logging.getLogger(__name__)

LOG_NAME = "journal.jsonl"
FORMAT_VERSION = 2  # 1: no `format` line (no superseded / heard / playing / barge_in lines)


class UnreadableJournal(ValueError):
    """A journal this version cannot replay; the message is one line."""


@dataclass(frozen=True)
class HistoryTurn:
    """One turn of the model's history: a user turn has 16 kHz `audio` or `text`; a reply has the heard text."""

    role: str
    turn_id: int
    text: str = ""
    audio: np.ndarray | None = field(default=None, repr=False)  # [N] float32 at 16 kHz


@dataclass
class Replayed:
    log: ConversationLog
    history: list[HistoryTurn]
    last_turn_id: int = 0


def replay_journal(directory: Path) -> Replayed:
    """Replay every line of a journal folder (a torn last line and a partial last audio sample are skipped)."""
    directory = Path(directory)
    shown = ConversationLog()
    history: list[HistoryTurn] = []
    heard: dict[int, str] = {}  # the latest `heard` line of each reply not yet ended
    last_id = 0
    for line in journal_lines(directory / LOG_NAME):
        op, tid = line.get("op"), line.get("turn_id")
        if op == "format":
            _check_version(line.get("version"), directory)
            continue
        if not isinstance(tid, int) or isinstance(tid, bool):
            continue
        last_id = max(last_id, tid)
        if op == "audio" and line.get("role") in (USER, ASSISTANT):
            rec = shown.get_or_add(line["role"], tid)
            rec.sample_rate_hz = int(line.get("rate_hz") or 0)
            rec.chunks = [read_f32(directory / audio_name(rec.role, tid))]
            if rec.role == USER:
                history.append(HistoryTurn(USER, tid, audio=rec.chunks[0]))
        elif op == "user_text":
            rec = shown.get_or_add(USER, tid)
            rec.text, rec.typed = str(line.get("text", "")), True
            history.append(HistoryTurn(USER, tid, text=rec.text))
        elif op == "superseded":
            _supersede(shown, history, tid)
        elif op == "transcript":
            shown.get_or_add(USER, tid).text = str(line.get("text", ""))
        elif op == "reply_text":
            shown.get_or_add(ASSISTANT, tid).text += str(line.get("text", ""))
        elif op == "heard":
            heard[tid] = str(line.get("heard_text", ""))
        elif op == "reply_end":
            rec = shown.get_or_add(ASSISTANT, tid)
            rec.interrupted = bool(line.get("interrupted"))
            rec.heard_text = str(line.get("heard_text") or "")
            history.append(HistoryTurn(ASSISTANT, tid, text=rec.heard_text))
            heard.pop(tid, None)
        elif op == "emotion" and line.get("role") in (USER, ASSISTANT):
            rec = shown.get_or_add(line["role"], tid)
            rec.emotions.append((str(line.get("label")), float(line.get("confidence") or 0.0)))
    _end_unfinished_reply(shown, history, heard)
    return Replayed(shown, history, last_id)


def read_journal(directory: Path) -> ConversationLog:
    """The turns a journal holds (superseded ones included, marked)."""
    return replay_journal(directory).log


def _check_version(version: object, directory: Path) -> None:
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION:
        raise UnreadableJournal(f"the conversation journal in {directory} has format {version!r}, newer than this "
                                f"version reads ({FORMAT_VERSION}); it was kept as it is")


def _supersede(shown: ConversationLog, history: list[HistoryTurn], tid: int) -> None:
    """The user went on after turn `tid` was committed early: the engine dropped that user turn and everything
    after it (its clipped reply) from the history; the log keeps them, marked."""
    for role in (USER, ASSISTANT):
        rec = shown.find(role, tid)
        if rec is not None:
            rec.superseded = True
    idx = next((i for i, t in enumerate(history) if t.role == USER and t.turn_id == tid), None)
    if idx is not None:
        del history[idx:]


def _end_unfinished_reply(shown: ConversationLog, history: list[HistoryTurn], heard: dict[int, str]) -> None:
    """A user turn whose reply never ended (the app was killed): the reply enters with what had been heard."""
    if not history or history[-1].role != USER:
        return
    tid = history[-1].turn_id
    text = heard.get(tid, "")
    history.append(HistoryTurn(ASSISTANT, tid, text=text))
    rec = shown.find(ASSISTANT, tid)
    if rec is not None:
        rec.interrupted, rec.heard_text = True, text


def journal_lines(path: Path) -> Iterator[dict]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    for raw in text.splitlines():
        try:
            line = json.loads(raw)
        except (ValueError, RecursionError):
            log.info("journal: skipping a torn line in %s", path)
            continue
        if isinstance(line, dict):
            yield line


def read_f32(path: Path) -> np.ndarray:
    try:
        data = path.read_bytes()
    except OSError:
        return np.zeros(0, np.float32)
    return np.frombuffer(data[: len(data) // 4 * 4], dtype="<f4").astype(np.float32)


def audio_name(role: str, turn_id: int) -> str:
    return f"{role}_{turn_id:04d}.f32"
