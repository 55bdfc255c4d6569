"""Crash-safe journal of the window's conversation: every turn as it happens, in the data dir.

Layout (`<data dir>/journal/`): `current/` is being written; `journal.jsonl` holds one JSON line per change
(`user_audio`, `user_text`, `transcript`, `reply_text` delta, `reply_audio` start, `reply_end`, `emotion`), and
each turn's audio is raw float32 appended to `<role>_<turn_id>.f32`. Every line and every audio chunk is
appended, flushed and fsynced at once, so a crash or a kill loses nothing already said or heard (at most a torn
last line, which `read_journal` skips). On start `take_previous()` moves a non-empty `current/` to `pending/` for
the window to offer; restoring copies it back in front of the new journal. A new conversation moves `current/`
to `previous/` (one level of undo). Owned by the GUI thread.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from app.window.turns import ASSISTANT, USER, ConversationLog
from core.engine.events import ReplyAudio, ReplyEnded, ReplyText, UserTextSubmitted, UserTurnCaptured
from core.listeners.events import TurnEmotion, UserTranscript

log = logging.getLogger(__name__)

JOURNAL_DIR = "journal"
LOG_NAME = "journal.jsonl"
CURRENT, PENDING, PREVIOUS = "current", "pending", "previous"


class ConversationJournal:
    """`handle(event)` journals what the presenter shows; `read_journal(dir)` rebuilds the ConversationLog."""

    def __init__(self, data_root: Path) -> None:
        self.root = Path(data_root) / JOURNAL_DIR
        self.dir = self.root / CURRENT
        self._log: Any = None
        self._audio_started: set[tuple[str, int]] = set()
        self.failed: str | None = None  # the first write error (the journal stops; the app goes on)
        self.on_failure: Any = None  # called once with that line (the window shows it)

    # -- start-up ---------------------------------------------------------------------------------------------
    def take_previous(self) -> Path | None:
        """A conversation left by the last run (crash or quit), moved aside to `pending/`; None if there is none."""
        if not _has_turns(self.dir):
            return None
        pending = self.root / PENDING
        shutil.rmtree(pending, ignore_errors=True)
        os.replace(self.dir, pending)
        return pending

    def restore(self, pending: Path) -> ConversationLog:
        """The pending conversation, which becomes the start of the current journal."""
        restored = read_journal(pending)
        self.close()
        current = list(_lines(self.dir / LOG_NAME)) if self.dir.exists() else []
        shutil.rmtree(self.dir, ignore_errors=True)
        os.replace(pending, self.dir)
        for line in current:  # anything journaled since start-up goes after the restored turns
            self._append(line)
        return restored

    def discard(self, pending: Path) -> None:
        shutil.rmtree(self.root / PREVIOUS, ignore_errors=True)
        os.replace(pending, self.root / PREVIOUS)

    def new_conversation(self) -> None:
        self.close()
        if _has_turns(self.dir):
            shutil.rmtree(self.root / PREVIOUS, ignore_errors=True)
            os.replace(self.dir, self.root / PREVIOUS)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        self._audio_started.clear()

    # -- events (GUI thread) ----------------------------------------------------------------------------------
    def handle(self, ev: object) -> None:
        if self.failed is not None:
            return
        try:
            self._handle(ev)
        except OSError as err:  # a full disk must not take the conversation down
            self.failed = f"The conversation journal stopped ({err}); export the conversation to keep it."
            log.warning("%s", self.failed)
            if self.on_failure is not None:
                self.on_failure(self.failed)

    def _handle(self, ev: object) -> None:
        if isinstance(ev, UserTurnCaptured):
            self._append_audio(USER, ev.turn_id, ev.samples, ev.sample_rate_hz)
        elif isinstance(ev, UserTextSubmitted):
            self._append({"op": "user_text", "turn_id": ev.turn_id, "text": ev.text})
        elif isinstance(ev, UserTranscript) and ev.turn_id is not None and ev.is_final:
            self._append({"op": "transcript", "turn_id": ev.turn_id, "text": ev.text})
        elif isinstance(ev, ReplyText):
            self._append({"op": "reply_text", "turn_id": ev.turn_id, "text": ev.delta.text})
        elif isinstance(ev, ReplyAudio):
            self._append_audio(ASSISTANT, ev.turn_id, ev.chunk.samples, ev.chunk.sample_rate_hz)
        elif isinstance(ev, ReplyEnded):
            self._append({"op": "reply_end", "turn_id": ev.turn_id, "interrupted": ev.interrupted,
                          "heard_text": ev.heard_text})
        elif isinstance(ev, TurnEmotion) and ev.turn_id is not None and ev.is_final:
            role = USER if ev.emotion.source == "user" else ASSISTANT
            self._append({"op": "emotion", "role": role, "turn_id": ev.turn_id, "label": ev.emotion.label,
                          "confidence": float(ev.emotion.confidence)})

    def _append_audio(self, role: str, turn_id: int, samples: np.ndarray, rate_hz: int) -> None:
        key = (role, turn_id)
        if key not in self._audio_started:  # the line first: a crash mid-chunk still finds the file
            self._audio_started.add(key)
            self._append({"op": "audio", "role": role, "turn_id": turn_id, "rate_hz": int(rate_hz)})
        with open(self.dir / _audio_name(role, turn_id), "ab") as f:
            f.write(np.ascontiguousarray(samples, dtype="<f4").tobytes())
            f.flush()
            os.fsync(f.fileno())

    def _append(self, line: dict) -> None:
        if self._log is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._log = open(self.dir / LOG_NAME, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self._log.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._log.flush()
        os.fsync(self._log.fileno())

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def read_journal(directory: Path) -> ConversationLog:
    """The conversation a journal holds (a torn last line and a partial last audio sample are skipped)."""
    result = ConversationLog()
    for line in _lines(Path(directory) / LOG_NAME):
        op, tid = line.get("op"), line.get("turn_id")
        if not isinstance(tid, int):
            continue
        if op == "audio" and line.get("role") in (USER, ASSISTANT):
            rec = result.get_or_add(line["role"], tid)
            rec.sample_rate_hz = int(line.get("rate_hz") or 0)
            rec.chunks = [_read_f32(Path(directory) / _audio_name(rec.role, tid))]
        elif op == "user_text":
            rec = result.get_or_add(USER, tid)
            rec.text, rec.typed = str(line.get("text", "")), True
        elif op == "transcript":
            result.get_or_add(USER, tid).text = str(line.get("text", ""))
        elif op == "reply_text":
            result.get_or_add(ASSISTANT, tid).text += str(line.get("text", ""))
        elif op == "reply_end":
            rec = result.get_or_add(ASSISTANT, tid)
            rec.interrupted, rec.heard_text = bool(line.get("interrupted")), line.get("heard_text")
        elif op == "emotion" and line.get("role") in (USER, ASSISTANT):
            rec = result.get_or_add(line["role"], tid)
            rec.emotions.append((str(line.get("label")), float(line.get("confidence") or 0.0)))
    return result


def _lines(path: Path):
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    for raw in text.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            log.info("journal: skipping a torn line in %s", path)
            continue
        if isinstance(line, dict):
            yield line


def _read_f32(path: Path) -> np.ndarray:
    try:
        data = path.read_bytes()
    except OSError:
        return np.zeros(0, np.float32)
    return np.frombuffer(data[: len(data) // 4 * 4], dtype="<f4").astype(np.float32)


def _audio_name(role: str, turn_id: int) -> str:
    return f"{role}_{turn_id:04d}.f32"


def _has_turns(directory: Path) -> bool:
    return any(True for _ in _lines(directory / LOG_NAME))
