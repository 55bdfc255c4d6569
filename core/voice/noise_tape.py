"""Position-indexed Gaussian noise: the same positions get the same values however an utterance is chunked.

A tape owns a private `torch.Generator` seeded once from the caller's generator, draws fixed-size blocks on
demand, and forgets blocks that lie before a released position. Streaming and whole-utterance decoding read
the flow noise z (per mel frame) and the HiFT sine noise (per sample) from tapes, so both see identical noise
at identical positions.
"""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)

SEED_HIGH = 2**62


def derive_seed(generator: torch.Generator) -> int:
    """One integer drawn from the caller's generator (advances it; never touches the global RNG)."""
    return int(torch.randint(0, SEED_HIGH, (1,), generator=generator).item())


class NoiseTape:
    """Standard normal values [channels, position]; `read(start, stop)` -> [channels, stop - start]."""

    def __init__(self, channels: int, seed: int, block: int) -> None:
        self.channels, self.block = channels, block
        self._gen = torch.Generator().manual_seed(seed)
        self._blocks: dict[int, torch.Tensor] = {}
        self._next_block = 0
        self._released = 0

    def _block(self, index: int) -> torch.Tensor:
        while self._next_block <= index:
            values = torch.randn(self.block, self.channels, generator=self._gen).T.contiguous()  # [C, block]
            if self._next_block >= self._released:
                self._blocks[self._next_block] = values
            self._next_block += 1
        if index not in self._blocks:
            raise ValueError(f"noise block {index} was already released")
        return self._blocks[index]

    def read(self, start: int, stop: int) -> torch.Tensor:
        if not 0 <= start <= stop:
            raise ValueError(f"bad noise range [{start}, {stop})")
        first, last = start // self.block, max(start, stop - 1) // self.block
        parts = [self._block(i) for i in range(first, last + 1)]
        joined = torch.cat(parts, dim=1) if parts else torch.zeros(self.channels, 0)
        offset = start - first * self.block
        return joined[:, offset : offset + (stop - start)]

    def release(self, position: int) -> None:
        """Positions before `position` will not be read again."""
        self._released = max(self._released, position // self.block)
        for index in [i for i in self._blocks if i < self._released]:
            del self._blocks[index]
