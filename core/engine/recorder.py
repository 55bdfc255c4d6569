"""Session recording: a WAV per user turn and per reply plus a JSONL event log, written as events arrive.

Every JSONL line and every reply chunk is flushed and fsynced at once (WAV headers included), so a crash loses
nothing that was already said or played: a reply's file is linked from the JSONL at its first chunk
(`ReplyAudioStarted`), not only at its end. A user turn's WAV is written under a temporary name and renamed.
A second run into the same folder keeps the first run's files: its names get a `runN_` prefix.
Use as an engine sink, optionally wrapping another: `SessionRecorder(dir, sink)`.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from core.audio.levels import MicLevel
from core.engine.events import EngineError, ErrorKind, ReplyAudio, ReplyEnded, UserTurnCaptured
from models.errors import UserError

log = logging.getLogger(__name__)

LOG_NAME = "session.jsonl"
WAV_SUBTYPE = "PCM_16"


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, np.ndarray):
        return None  # audio goes to WAV files, not the log
    if dataclasses.is_dataclass(value):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def _run_prefix(directory: Path) -> str:
    """"" for the first run into `directory`, else "runN_" with the first N whose names are free."""
    names = {p.name for p in directory.iterdir()}
    if not any(n.startswith(("user_", "reply_")) for n in names):
        return ""
    n = 2
    while any(x.startswith(f"run{n}_") for x in names):
        n += 1
    return f"run{n}_"


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SessionRecorder:
    """Callable event sink. `close()` finishes open reply files (skipping it is safe: files stay valid)."""

    def __init__(self, out_dir: str | Path, forward: Callable[[object], None] | None = None) -> None:
        self.dir = Path(out_dir)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._log = open(self.dir / LOG_NAME, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        except OSError as err:
            raise UserError(f"Cannot write recordings to {self.dir} ({err}); choose another --record dir.") from err
        self.prefix = _run_prefix(self.dir)
        self._forward = forward
        self._lock = threading.Lock()
        self._replies: dict[int, sf.SoundFile] = {}
        self.failed: str | None = None  # set at the first write error; recording stops there

    def __call__(self, event: object) -> None:
        notice = None
        if self.failed is None:
            try:
                self._record(event)
            except (OSError, RuntimeError) as err:  # a full disk (soundfile raises RuntimeError) must not take
                log.warning("recording %s failed", type(event).__name__, exc_info=True)  # the conversation down
                self.failed = (f"Recording to {self.dir} stopped ({' '.join(str(err).split())}); what was recorded "
                               "so far is kept and the conversation goes on.")
                notice = EngineError(ErrorKind.INTERNAL, self.failed)
        if self._forward is not None:
            self._forward(event)
            if notice is not None:
                self._forward(notice)

    def _record(self, event: object) -> None:
        if isinstance(event, MicLevel):
            return
        extra: dict[str, Any] = {}
        with self._lock:
            if isinstance(event, UserTurnCaptured):
                name = f"{self.prefix}user_{event.turn_id:03d}.wav"
                tmp = self.dir / f"{name}.tmp"
                sf.write(str(tmp), event.samples, event.sample_rate_hz, subtype=WAV_SUBTYPE, format="WAV")
                _fsync_path(tmp)
                os.replace(tmp, self.dir / name)
                extra = {"file": name, "audio_s": event.samples.size / event.sample_rate_hz}
            elif isinstance(event, ReplyAudio):
                f = self._reply_file(event)
                f.write(event.chunk.samples)
                f.flush()
                _fsync_path(Path(f.name))
                return  # audio only: the JSONL gets the reply's file at ReplyEnded
            elif isinstance(event, ReplyEnded):
                f = self._replies.pop(event.turn_id, None)
                if f is not None:
                    f.close()
                    extra = {"file": Path(f.name).name}
            self._write_line(event, extra)

    def _reply_file(self, event: ReplyAudio) -> sf.SoundFile:
        f = self._replies.get(event.turn_id)
        if f is None:
            path = self.dir / f"{self.prefix}reply_{event.turn_id:03d}.wav"
            f = sf.SoundFile(str(path), "w", samplerate=event.chunk.sample_rate_hz, channels=1, subtype=WAV_SUBTYPE)
            self._replies[event.turn_id] = f
            started = {"ts": round(time.time(), 3), "type": "ReplyAudioStarted", "turn_id": event.turn_id,
                       "file": path.name, "sample_rate_hz": event.chunk.sample_rate_hz}
            self._append(started)  # linked now: a crash mid-reply still leaves the file findable
        return f

    def _write_line(self, event: object, extra: dict[str, Any]) -> None:
        fields = {k: v for k, v in _jsonable(event).items() if v is not None or k == "error"}
        self._append({"ts": round(time.time(), 3), "type": type(event).__name__, **fields, **extra})

    def _append(self, line: dict[str, Any]) -> None:
        self._log.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._log.flush()
        os.fsync(self._log.fileno())

    def close(self) -> None:
        with self._lock:
            for f in self._replies.values():
                try:
                    f.close()
                except (OSError, RuntimeError) as err:  # finishing a header on a full disk
                    log.warning("closing %s: %s", f.name, err)
            self._replies.clear()
            try:
                self._log.close()
            except OSError as err:
                log.warning("closing the session log: %s", err)
