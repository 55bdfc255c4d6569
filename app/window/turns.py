"""The window's record of a conversation: every turn's text, emotion labels and audio, and its export.

Export layout (`export_conversation(dir)`): `conversation.json` plus `turn_NNN_user.wav` (16 kHz) and
`turn_NNN_assistant.wav` (the vocoder's 22050 Hz) for each turn that has audio. `load_export` reads it back.
Export is atomic (temporary names, then renames). Owned by the GUI thread only.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

log = logging.getLogger(__name__)

EXPORT_JSON = "conversation.json"
EXPORT_VERSION = 1
USER, ASSISTANT = "user", "assistant"


@dataclass
class TurnRecord:
    turn_id: int
    role: str
    text: str = ""
    typed: bool = False
    sample_rate_hz: int = 0
    chunks: list[np.ndarray] = field(default_factory=list, repr=False)
    emotions: list[tuple[str, float]] = field(default_factory=list)  # (label, confidence), latest last
    interrupted: bool = False
    heard_text: str | None = None
    superseded: bool = False  # the user went on after this turn was committed early: a later turn holds it

    @property
    def key(self) -> tuple[str, int]:
        return self.role, self.turn_id

    def audio(self) -> np.ndarray:
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.float32)

    @property
    def audio_s(self) -> float:
        return sum(c.size for c in self.chunks) / self.sample_rate_hz if self.sample_rate_hz else 0.0


class ConversationLog:
    """Ordered turns, addressable by (role, turn_id)."""

    def __init__(self) -> None:
        self.turns: list[TurnRecord] = []
        self._by_key: dict[tuple[str, int], TurnRecord] = {}

    def get_or_add(self, role: str, turn_id: int) -> TurnRecord:
        rec = self._by_key.get((role, turn_id))
        if rec is None:
            rec = TurnRecord(turn_id, role)
            self.turns.append(rec)
            self._by_key[rec.key] = rec
        return rec

    def insert(self, index: int, rec: TurnRecord) -> None:
        """Put `rec` at `index` (a restored turn goes before the ones of this run)."""
        if rec.key in self._by_key:
            raise ValueError(f"turn {rec.key} is already in the log")
        self.turns.insert(index, rec)
        self._by_key[rec.key] = rec

    def find(self, role: str, turn_id: int) -> TurnRecord | None:
        return self._by_key.get((role, turn_id))

    def clear(self) -> None:
        self.turns.clear()
        self._by_key.clear()


def export_conversation(log_: ConversationLog, out_dir: str | Path, meta: dict | None = None) -> Path:
    """Write conversation.json and one WAV per turn with audio; returns the JSON path.

    Atomic: every file is written under a temporary name (fsynced) and renamed into place only once all were
    written, conversation.json last; WAVs of an earlier export in the folder that this one does not list are
    removed after. A failure (disk full) removes the temporary files and leaves the folder as it was."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tag = f".tmp{os.getpid()}"
    staged: list[tuple[Path, Path]] = []  # (temporary, final)
    try:
        items = []
        for rec in log_.turns:
            item = {"turn_id": rec.turn_id, "role": rec.role, "text": rec.text, "typed": rec.typed}
            if rec.emotions:
                item["emotions"] = [{"label": lab, "confidence": round(conf, 4)} for lab, conf in rec.emotions]
            if rec.role == ASSISTANT:
                item.update(interrupted=rec.interrupted, heard_text=rec.heard_text)
            if rec.superseded:
                item["superseded"] = True
            if rec.chunks:
                name = f"turn_{rec.turn_id:03d}_{rec.role}.wav"
                tmp = out / (name + tag)
                staged.append((tmp, out / name))
                with sf.SoundFile(str(tmp), "w", rec.sample_rate_hz, 1, subtype="FLOAT", format="WAV") as f:
                    f.write(rec.audio())
                _fsync(tmp)
                item.update(audio=name, sample_rate_hz=rec.sample_rate_hz, audio_s=round(rec.audio_s, 3))
            items.append(item)
        doc = {"version": EXPORT_VERSION, "meta": meta or {}, "turns": items}
        tmp = out / (EXPORT_JSON + tag)
        staged.append((tmp, out / EXPORT_JSON))
        write_text_durably(tmp, json.dumps(doc, indent=2, ensure_ascii=False))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    previous = _listed_audio(out)
    for tmp, final in staged:
        os.replace(tmp, final)
    _fsync(out)
    kept = {final.name for _, final in staged}
    for name in previous - kept:  # an earlier export's turns this one does not have
        (out / name).unlink(missing_ok=True)
    log.info("exported %d turns to %s", len(items), out)
    return out / EXPORT_JSON


def _listed_audio(out: Path) -> set[str]:
    """The WAVs an export already in `out` lists (plus any turn_NNN_role.wav left by an older version)."""
    names = {p.name for p in out.glob("turn_[0-9][0-9][0-9]*_*.wav")}
    try:
        doc = json.loads((out / EXPORT_JSON).read_text(encoding="utf-8"))
        names |= {Path(t["audio"]).name for t in doc.get("turns", []) if isinstance(t, dict) and t.get("audio")}
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    return names


def write_text_durably(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_export(out_dir: str | Path) -> ConversationLog:
    """Read an export back (text, emotions and audio)."""
    out = Path(out_dir)
    doc = json.loads((out / EXPORT_JSON).read_text(encoding="utf-8"))
    result = ConversationLog()
    for item in doc["turns"]:
        rec = result.get_or_add(item["role"], int(item["turn_id"]))
        rec.text, rec.typed = item.get("text", ""), bool(item.get("typed"))
        rec.emotions = [(e["label"], float(e["confidence"])) for e in item.get("emotions", [])]
        rec.interrupted, rec.heard_text = bool(item.get("interrupted")), item.get("heard_text")
        rec.superseded = bool(item.get("superseded"))
        if item.get("audio"):
            samples, rate = sf.read(str(out / item["audio"]), dtype="float32")
            rec.chunks, rec.sample_rate_hz = [samples], int(rate)
    return result
