"""Reuse of the LLM's KV cache across turns: the system prompt and the history are not re-encoded every turn.

Each prompt position gets a key: its token id, or `(turn, i)` for the i-th embedding of an audio turn (turns compare
by identity, so a clip is never confused with another). After a reply the cache is cropped back to its prompt and
kept; the next reply reuses the longest common prefix of keys and prefills only the rest. The chat template renders
an earlier assistant turn as plain text, so the common prefix ends where that turn's content starts — everything
before it (system prompt, all earlier turns, their audio) is reused.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Sequence

from transformers import DynamicCache

PositionKey = Hashable


def crop_to(cache: DynamicCache, length: int) -> None:
    """Keep the first `length` positions. (transformers 5.x `crop()` takes the NEGATED number of positions to drop;
    a positive argument raises.)"""
    n_remove = cache.get_seq_length() - length
    if n_remove > 0:
        cache.crop(-n_remove)


def common_prefix_len(a: Sequence[PositionKey], b: Sequence[PositionKey]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x is not y and x != y:
            break
        n += 1
    return n


class PromptCache:
    """Holds at most one cropped LLM cache. A stream checks it out for its turn and checks it back in at the end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: list[PositionKey] = []
        self._cache: DynamicCache | None = None

    def checkout(self, keys: Sequence[PositionKey]) -> tuple[DynamicCache | None, int]:
        """The cache holding the longest reusable prefix of `keys` and its length (None, 0 when nothing fits)."""
        with self._lock:
            cache, old_keys = self._cache, self._keys
            self._cache, self._keys = None, []
        if cache is None:
            return None, 0
        # always recompute at least the last prompt position: its hidden state and logits start the reply
        n = min(common_prefix_len(old_keys, keys), len(keys) - 1)
        if n <= 0:
            return None, 0
        crop_to(cache, n)
        return cache, n

    def checkin(self, keys: Sequence[PositionKey], cache: DynamicCache) -> None:
        """Keep `cache` cropped to the prompt described by `keys` (generated positions are dropped)."""
        crop_to(cache, len(keys))
        with self._lock:
            self._cache, self._keys = cache, list(keys)

    def kept(self) -> DynamicCache | None:
        """The cache kept for the next turn (None while a turn has it checked out, or when empty). Read only."""
        return self._cache

    def clear(self) -> None:
        with self._lock:
            self._cache, self._keys = None, []
