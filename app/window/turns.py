"""The window's record of a conversation: every turn's text, emotion labels and audio, and its export.

Export layout (`export_conversation(dir)`): `conversation.json` plus `turn_NNN_user.wav` (16 kHz) and
`turn_NNN_assistant.wav` (the vocoder's 22050 Hz) for each turn that has audio: 16-bit PCM WAV (the plain header
every player and sox read; float samples are clipped to [-1, 1]). Texts are written as the window shows them
(`app.readable.shown_text`: no control characters, "(nothing readable)" for a text with nothing readable).
`load_export` reads it back.
Export is atomic (temporary names, then renames) and replaces or removes only files an earlier export of this app
wrote and that are unchanged (conversation.json lists them with size and SHA-256). Owned by the GUI thread only.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from app.readable import shown_text

log = logging.getLogger(__name__)

EXPORT_JSON = "conversation.json"
EXPORT_VERSION = 2  # 2: conversation.json lists the files it wrote (name, bytes, sha256)
WRITTEN_BY = "opens2s-companion export"
MAX_EXPORT_JSON_BYTES = 64 * 1024 * 1024
USER, ASSISTANT = "user", "assistant"
WAV_SUBTYPE = "PCM_16"  # a float WAV's 16-byte fmt chunk (no cbSize, no fact chunk) makes sox and others warn


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
    written, conversation.json last. A failure (disk full) removes the temporary files and leaves the folder as it
    was. Only files this app wrote are ever replaced or removed: conversation.json lists every file an export
    wrote with its size and SHA-256; a file an earlier export listed is replaced, or removed when this export does
    not write it, only while it is still a plain file in the folder with that size and hash. Any other file at a
    name this export needs is refused (FileExistsError, one line) before anything is written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    items = [_item(rec) for rec in log_.turns]
    names = [EXPORT_JSON, *(i["audio"] for i in items if "audio" in i)]
    ours = _our_earlier_files(out)
    for name in names:
        if os.path.lexists(out / name) and name not in ours:
            raise FileExistsError(errno.EEXIST, f"it already holds {name}, which this app did not write (or it "
                                  "was changed since); export into a new folder")
    tag = f".tmp{os.getpid()}"
    staged: list[tuple[Path, Path]] = []  # (temporary, final)
    try:
        written = []
        for rec, item in zip(log_.turns, items, strict=True):
            if "audio" not in item:
                continue
            tmp = out / (item["audio"] + tag)
            staged.append((tmp, out / item["audio"]))
            with sf.SoundFile(str(tmp), "w", rec.sample_rate_hz, 1, subtype=WAV_SUBTYPE, format="WAV") as f:
                f.write(np.clip(rec.audio(), -1.0, 1.0))
            _fsync(tmp)
            written.append({"name": item["audio"], **_fingerprint(tmp)})
        doc = {"version": EXPORT_VERSION, "written_by": WRITTEN_BY, "meta": meta or {}, "turns": items,
               "files": written}
        tmp = out / (EXPORT_JSON + tag)
        staged.append((tmp, out / EXPORT_JSON))
        write_text_durably(tmp, json.dumps(doc, indent=2, ensure_ascii=False))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, final in staged:
        os.replace(tmp, final)
    _fsync(out)
    for name in set(ours) - set(names) - {EXPORT_JSON}:  # an earlier export's turns this one does not have
        if _unchanged(out / name, ours[name]):
            (out / name).unlink(missing_ok=True)
    log.info("exported %d turns to %s", len(items), out)
    return out / EXPORT_JSON


def _item(rec: TurnRecord) -> dict:
    item: dict = {"turn_id": rec.turn_id, "role": rec.role, "text": shown_text(rec.text), "typed": rec.typed}
    if rec.emotions:
        item["emotions"] = [{"label": lab, "confidence": round(conf, 4)} for lab, conf in rec.emotions]
    if rec.role == ASSISTANT:
        heard = None if rec.heard_text is None else shown_text(rec.heard_text)
        item.update(interrupted=rec.interrupted, heard_text=heard)
    if rec.superseded:
        item["superseded"] = True
    if rec.chunks:
        item.update(audio=f"turn_{rec.turn_id:03d}_{rec.role}.wav", sample_rate_hz=rec.sample_rate_hz,
                    audio_s=round(rec.audio_s, 3))
    return item


def _our_earlier_files(out: Path) -> dict[str, dict]:
    """{name: fingerprint} of the files an earlier export of this app wrote into `out` and that are still exactly
    as written (conversation.json included when it is ours); plain names inside `out` only, never a link."""
    path = out / EXPORT_JSON
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode) or os.lstat(path).st_size > MAX_EXPORT_JSON_BYTES:
            return {}
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(doc, dict) or doc.get("written_by") != WRITTEN_BY or not isinstance(doc.get("files"), list):
        return {}  # not ours, or an export from before the file list (version 1): nothing of it is touched
    ours: dict[str, dict] = {EXPORT_JSON: {}}
    for entry in doc["files"]:
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str) and _plain_name(name) and _unchanged(out / name, entry):
            ours[name] = entry
    return ours


def _plain_name(name: str) -> bool:
    return name == Path(name).name and name not in ("", ".", "..", EXPORT_JSON) and "\\" not in name


def _fingerprint(path: Path) -> dict:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def _unchanged(path: Path, entry: dict) -> bool:
    """`path` is a plain file (not a link, not a folder) with the size and SHA-256 the export recorded."""
    try:
        st = os.lstat(path)
        return (stat.S_ISREG(st.st_mode) and st.st_size == entry.get("bytes")
                and _fingerprint(path)["sha256"] == entry.get("sha256"))
    except OSError:
        return False


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
