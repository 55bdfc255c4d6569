"""Where a process's memory is: the figures bench_soak.py prints per turn to attribute RSS growth.

- `rss_parts()`: resident anonymous memory (heap, tensors, stacks) and resident file pages (libraries, mapped
  weights) from /proc/self/status; only the anonymous part can grow with a session.
- `malloc_mb()`: glibc's own account over all arenas (mallinfo2): bytes handed out and not freed (torch's CPU
  tensors, numpy arrays, ONNX Runtime, Python objects above pymalloc's 512-byte limit) and free bytes it keeps.
- `torch_tensor_mb()`: the storages of every CPU torch tensor reachable from Python (weights included); a
  tensor that only C++ holds is not seen.
- `prompt_cache_mb(runner)`: the storage of the runner's kept prompt KV cache and its length in positions.
"""

from __future__ import annotations

import ctypes
import gc


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _libc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        return libc
    except (OSError, AttributeError):  # not glibc, or glibc < 2.33
        return None


_LIBC = _libc()


def rss_parts() -> dict[str, float]:
    """{"anon_mb", "file_mb"}: resident anonymous and file-backed memory."""
    out = {"anon_mb": 0.0, "file_mb": 0.0}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("RssAnon:", "RssFile:")):
                key = "anon_mb" if line.startswith("RssAnon") else "file_mb"
                out[key] = int(line.split()[1]) / 1024
    return out


def malloc_trim() -> None:
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def malloc_mb() -> dict[str, float]:
    """{"in_use_mb", "free_mb"} from glibc (zeros when not available)."""
    if _LIBC is None:
        return {"in_use_mb": 0.0, "free_mb": 0.0}
    m = _LIBC.mallinfo2()
    return {"in_use_mb": (m.uordblks + m.hblkhd) / 2**20, "free_mb": m.fordblks / 2**20}


def torch_tensor_mb() -> float:
    import torch

    seen: set[int] = set()
    total = 0
    for obj in gc.get_objects():
        try:
            if not isinstance(obj, torch.Tensor) or obj.device.type != "cpu" or obj.is_meta:
                continue
            storage = obj.untyped_storage()
        except (RuntimeError, NotImplementedError, ReferenceError):  # sparse, quantized, freed weakref proxies
            continue
        if storage.data_ptr() and storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            total += storage.nbytes()
    return total / 2**20


def cache_bytes(cache) -> int:
    """Bytes of the storages a transformers DynamicCache holds (a cropped layer is a view on a larger storage)."""
    seen: set[int] = set()
    total = 0
    for layer in getattr(cache, "layers", ()):
        for t in (getattr(layer, "keys", None), getattr(layer, "values", None)):
            if t is None or t.numel() == 0:
                continue
            storage = t.untyped_storage()
            if storage.data_ptr() not in seen:
                seen.add(storage.data_ptr())
                total += storage.nbytes()
    return total


def prompt_cache_mb(cache) -> tuple[float, int]:
    """(MB, positions) of a core.lm.prompt_cache.PromptCache (0, 0 when None or empty)."""
    if cache is None:
        return 0.0, 0
    kv = cache.kept() if hasattr(cache, "kept") else cache._cache  # noqa: SLF001 (before kept() existed)
    return (cache_bytes(kv) / 2**20, kv.get_seq_length()) if kv is not None else (0.0, 0)
