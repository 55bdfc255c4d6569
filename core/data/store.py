"""The output folder: audio files, one state file per record (the commit marker of a finished record), the
assembled jsonl and the manifest. Every file is written to a temporary name and renamed, so a killed run leaves
whole files or none; a record counts as done only once its state file exists."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from core.data.config import DataConfig
from core.data.config_io import to_plain
from core.files import fsync_dir, note_nonempty
from models.errors import UserError

log = logging.getLogger(__name__)

JSONL_NAME = "data.jsonl"
MANIFEST_NAME = "manifest.json"
RUN_NAME = "run.json"
RECORDS_DIR = "records"
AUDIO_DIR = "audio"
TMP_SUFFIX = ".part"
# Settings that do not change what a record contains: a run may be resumed or extended with other values.
NON_CONTENT_KEYS = ("n_dialogues", "run")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any, indent: int | None = 1) -> None:
    text = json.dumps(obj, ensure_ascii=False, indent=indent, sort_keys=True)
    atomic_write_bytes(path, (text + "\n").encode("utf-8"))


def wav_bytes(samples: np.ndarray, rate_hz: int) -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, np.clip(samples, -1.0, 1.0), rate_hz, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def content_fingerprint(config: DataConfig) -> str:
    plain = {k: v for k, v in to_plain(config).items() if k not in NON_CONTENT_KEYS}
    return hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()[:16]


class Store:
    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        self.records = self.out / RECORDS_DIR
        self.audio = self.out / AUDIO_DIR

    def prepare(self, config: DataConfig, extra: dict[str, Any]) -> None:
        """Create the folder, or check that an existing one was made with the same content settings (then this
        run resumes it: finished records are kept, the missing ones are made). A non-empty folder that no
        make-data run made is used with a warning (only data.jsonl, manifest.json, run.json, records/ and audio/
        are written; other files are left alone)."""
        if self.out.exists() and not self.out.is_dir():
            raise UserError(f"--out {self.out} is a file; give a folder (it will hold data.jsonl and audio/)")
        fingerprint = content_fingerprint(config)
        run_file = self.out / RUN_NAME
        if not run_file.is_file():
            note_nonempty(self.out, "make-data output folder")
        self.records.mkdir(parents=True, exist_ok=True)
        self.audio.mkdir(parents=True, exist_ok=True)
        for folder in (self.out, self.records, self.audio):  # a killed run's half-written files (only ours)
            for leftover in folder.glob(f".*{TMP_SUFFIX}"):
                leftover.unlink(missing_ok=True)
        if run_file.is_file():
            try:
                previous = json.loads(run_file.read_text("utf-8")).get("fingerprint")
            except (OSError, ValueError, AttributeError):
                raise UserError(f"{run_file} is unreadable, so this folder cannot be resumed safely; use another "
                                "--out") from None
            if previous != fingerprint:
                raise UserError(f"{self.out} holds a dataset made with other settings (only n_dialogues and run.* may "
                                "change between runs into one folder); use another --out")
            log.info("resuming %s: %d record(s) already made are kept", self.out, len(self.done_ids()))
            return
        atomic_write_json(run_file, {"fingerprint": fingerprint, "config": to_plain(config), **extra})

    def done_ids(self) -> set[str]:
        return {p.stem for p in self.records.glob("*.json")}

    def audio_path(self, record_id: str, role: str) -> Path:
        return self.audio / f"{record_id}_{role}.wav"

    def write_audio(self, record_id: str, role: str, samples: np.ndarray, rate_hz: int) -> Path:
        path = self.audio_path(record_id, role)
        atomic_write_bytes(path, wav_bytes(samples, rate_hz))
        return path

    def write_record(self, record_id: str, state: dict[str, Any]) -> None:
        atomic_write_json(self.records / f"{record_id}.json", state, indent=None)  # compact: one per record

    def read_records(self, limit: int | None = None) -> list[dict[str, Any]]:
        """State files in record order; with `limit`, only records with index < limit."""
        out = []
        for path in sorted(self.records.glob("*.json")):
            if limit is not None and int(path.stem) >= limit:
                continue
            out.append(json.loads(path.read_text("utf-8")))
        return out
