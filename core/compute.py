"""Compute device and dtype choice: CUDA + bfloat16 when present, else CPU + float32."""

from __future__ import annotations

import logging
import os

import torch

from models.errors import UserError

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16,
          "float64": torch.float64}  # float64: for exactness checks only


def resolve_device(name: str | None) -> torch.device:
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r} requested but CUDA is not available; use --device cpu")
    return device


def resolve_dtype(name: str | None, device: torch.device) -> torch.dtype:
    if name in (None, "", "auto"):
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if name not in DTYPES:
        raise UserError(f"unknown dtype {name!r}; use one of {', '.join(sorted(DTYPES))}")
    return DTYPES[name]


def default_cpu_threads(env: dict[str, str] | None = None) -> int:
    """Torch intra-op threads for the app: OMP_NUM_THREADS when set, else all usable cores but one.

    The realtime path runs beside the decode loop (capture + VAD, vocoder, event and UI threads); with every core
    given to torch, its worker threads fight those for the CPU (bench/suite.py, small preset on 2 cores: engine
    overhead +36 % with 2 threads, +5.9 % with 1; end to end 2 threads were only 20 ms faster).
    """
    env = os.environ if env is None else env
    value = env.get("OMP_NUM_THREADS", "").strip()
    if value:
        try:
            if int(value) >= 1:
                return int(value)
        except ValueError:
            pass
        log.warning("ignoring OMP_NUM_THREADS=%r (not a positive integer)", value)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores - 1)


_app_threads: int | None = None  # what configure_cpu_threads() chose for this process


def configure_cpu_threads(n_threads: int | None = None) -> int:
    """Set torch's intra-op threads (default: `default_cpu_threads()`); returns the number set.

    The count is also remembered for `apply_cpu_threads()`: torch's count is per thread in effect (a thread started
    after another thread called `set_num_threads(1)`, as the listener workers do, reports 1), so each compute thread
    sets its own count when it starts."""
    global _app_threads
    n = default_cpu_threads() if n_threads is None else n_threads
    if n < 1:
        raise UserError(f"need at least 1 CPU thread, got {n}")
    torch.set_num_threads(n)
    _app_threads = n
    log.debug("torch intra-op threads: %d", n)
    return n


def app_cpu_threads() -> int:
    """The process's chosen torch thread count: configure_cpu_threads()'s, else `default_cpu_threads()`."""
    return _app_threads if _app_threads is not None else default_cpu_threads()


def apply_cpu_threads(n_threads: int | None = None) -> int:
    """Set torch's intra-op threads for the calling thread (default: `app_cpu_threads()`); returns the count."""
    n = app_cpu_threads() if n_threads is None else n_threads
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


# glibc malloc, tuned for a long session (bench/bench_soak.py; docs/reliability.md "Long sessions"): its defaults
# raise the mmap threshold each time a large block is freed (up to 32 MiB), so the growing KV caches, activations
# and audio buffers of later turns come from the heap, whose free holes are seldom given back; and each thread
# that allocates may get an arena of its own (up to 8 per core), which the engine's threads, replaced on each
# settings change, fill with more holes. A fixed threshold sends every block of 128 KiB or more to mmap (returned
# to the system when freed), and two arenas keep the holes few.
MALLOC_MMAP_THRESHOLD_BYTES = 128 * 1024
MALLOC_ARENA_MAX = 2
_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8  # mallopt() parameters (malloc.h)


def tune_malloc(env: dict[str, str] | None = None) -> bool:
    """Apply the settings above through mallopt(); True when applied. Skipped (False) off glibc, and for any setting
    the user chose with glibc's own environment variables (MALLOC_MMAP_THRESHOLD_, MALLOC_ARENA_MAX)."""
    import ctypes
    import ctypes.util

    env = os.environ if env is None else env
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = True
    if "MALLOC_MMAP_THRESHOLD_" not in env:
        ok &= bool(mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD_BYTES))
    if "MALLOC_ARENA_MAX" not in env:
        ok &= bool(mallopt(_M_ARENA_MAX, MALLOC_ARENA_MAX))
    log.debug("malloc tuned: mmap threshold %d bytes, at most %d arenas (%s)", MALLOC_MMAP_THRESHOLD_BYTES,
              MALLOC_ARENA_MAX, "ok" if ok else "refused")
    return ok
