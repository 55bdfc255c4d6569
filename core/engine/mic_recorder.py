"""The recorder's debug option: the whole microphone stream before and after echo cancellation, as two 16 kHz
WAVs (`mic_raw.wav`, `mic_clean.wav`) beside the session's turns. The engine's `mic_tap` hands each piece over on
the capture thread, which only copies and enqueues; a writer thread writes and flushes. A full disk stops the
recording with one line and nothing else."""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

import numpy as np
import soundfile as sf

from core.turns.config import VAD_RATE_HZ
from models.errors import UserError

log = logging.getLogger(__name__)

QUEUE_PIECES = 2000  # about 40 s of 20 ms pieces; the writer keeps up far faster
RAW_NAME, CLEAN_NAME = "mic_raw.wav", "mic_clean.wav"


class MicStreamRecorder:
    """`tap(raw, clean)` is the engine's mic_tap; `close()` finishes both files."""

    def __init__(self, out_dir: str | Path, prefix: str = "") -> None:
        self.dir = Path(out_dir)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._files = [
                sf.SoundFile(str(self.dir / f"{prefix}{name}"), "w", samplerate=VAD_RATE_HZ, channels=1,
                             subtype="PCM_16")
                for name in (RAW_NAME, CLEAN_NAME)
            ]
        except (OSError, RuntimeError) as err:
            raise UserError(f"Cannot write the microphone streams to {self.dir} ({err}); choose another --record "
                            "dir.") from err
        self._queue: queue.Queue[tuple[np.ndarray, np.ndarray] | None] = queue.Queue(maxsize=QUEUE_PIECES)
        self.dropped = 0
        self.failed: str | None = None
        self._thread = threading.Thread(target=self._write, name="mic-recorder", daemon=True)
        self._thread.start()

    def tap(self, raw: np.ndarray, clean: np.ndarray) -> None:
        """raw, clean: [N], [M] float32 at 16 kHz (the capture thread: copy and hand over, never block)."""
        try:
            self._queue.put_nowait((raw.copy(), clean.copy()))
        except queue.Full:
            self.dropped += 1

    def _write(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self.failed is not None:
                continue
            try:
                for f, x in zip(self._files, item, strict=True):
                    f.write(x)
            except (OSError, RuntimeError) as err:
                self.failed = f"Recording the microphone streams stopped ({err}); what was written is kept."
                log.warning("%s", self.failed)

    def close(self, timeout_s: float = 5.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout_s)
        for f in self._files:
            try:
                f.close()
            except (OSError, RuntimeError) as err:
                log.warning("closing %s: %s", f.name, err)
        if self.dropped:
            log.warning("the microphone recorder dropped %d pieces (the disk fell behind)", self.dropped)
