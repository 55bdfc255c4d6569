"""Where a conversation keeps the audio of its older user turns: an anonymous temporary file, not memory.

The model reads a turn's samples only to encode them, and once a turn is in the prompt KV cache
(core.lm.prompt_cache) that happens again only when the cache cannot be reused (the oldest turns were dropped to fit
the context, the system prompt changed, a restored history). So a history turn's audio is written here once it has
been answered, and read back (a `pread`, from the page cache as a rule) when it must be encoded again. Memory then
stays flat however long the session; the disk holds 64 KB per second of user speech until the conversation is gone.

The file is created unlinked (`tempfile.TemporaryFile`): nothing is left behind on exit, even after kill -9, and
the space comes back when the last turn that refers to it is garbage-collected. Samples are stored as they are
(float32, lossless), so an encoding from the file is bit-identical to one from memory. When the disk refuses a
write (full, read-only temp dir), the clip simply stays in memory and the session goes on.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading

import numpy as np

log = logging.getLogger(__name__)

SAMPLE_DTYPE = np.dtype(np.float32)


class ClipSpool:
    """An append-only store of float32 clips in one unlinked temporary file. Thread-safe: `put` from the thread
    that owns the conversation, `get` from the model's thread."""

    def __init__(self, directory: str | None = None) -> None:
        self._dir = directory
        self._lock = threading.Lock()
        self._file = None  # opened at the first put
        self._end = 0  # bytes written
        self._failed = False

    @property
    def nbytes(self) -> int:
        return self._end

    def put(self, samples: np.ndarray) -> tuple[int, int] | None:
        """Store `samples` [N] float32; (byte offset, N), or None when the disk refused (the caller keeps them)."""
        data = np.ascontiguousarray(samples, dtype=SAMPLE_DTYPE).tobytes()
        with self._lock:
            if self._failed:
                return None
            try:
                if self._file is None:
                    self._file = tempfile.TemporaryFile(prefix="opens2s-history-", dir=self._dir)  # noqa: SIM115
                offset = self._end
                written = os.pwrite(self._file.fileno(), data, offset)
                if written != len(data):
                    raise OSError(f"short write ({written} of {len(data)} bytes)")
            except OSError as err:
                self._failed = True  # one warning per conversation; later clips stay in memory too
                log.warning("history audio stays in memory: the temporary file could not be written (%s)", err)
                return None
            self._end += len(data)
        return offset, samples.size

    def get(self, offset: int, n_samples: int) -> np.ndarray:
        """The clip stored at `offset`: [n_samples] float32, read-only."""
        size = n_samples * SAMPLE_DTYPE.itemsize
        data = os.pread(self._file.fileno(), size, offset)
        if len(data) != size:
            raise OSError(f"history audio file: read {len(data)} of {size} bytes at {offset}")
        out = np.frombuffer(data, dtype=SAMPLE_DTYPE)
        return out  # frombuffer over bytes is read-only

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __del__(self) -> None:
        f = getattr(self, "_file", None)
        if f is not None:
            f.close()
