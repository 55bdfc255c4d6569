"""Shared, cached setup for the vocoder tests: one tiny random decoder per test process."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from core.voice.chunk_schedule import ChunkSchedule
from core.voice.vocoder import Vocoder
from models.glm_constants import UNIT_VOCAB_SIZE
from models.tiny_decoder import make_tiny_decoder

TINY_SEED = 0


@functools.cache
def tiny_dir() -> Path:
    root = Path(tempfile.mkdtemp(prefix="tiny-glm4voice-"))
    atexit.register(shutil.rmtree, root, True)
    return make_tiny_decoder(root / "decoder", seed=TINY_SEED)


@functools.cache
def decoder(backend: str = "torch") -> Vocoder:
    return Vocoder.load(tiny_dir(), backend=backend)


def units(n: int, seed: int = 0) -> list[int]:
    return torch.randint(0, UNIT_VOCAB_SIZE, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def stream_decode(
    dec: Vocoder, unit_ids: list[int], schedule: ChunkSchedule, seed: int = 1, step: int = 1
) -> tuple[list[np.ndarray], object]:
    """Push units `step` at a time, then flush; returns (chunks, stream)."""
    s = dec.open_stream(schedule, torch.Generator().manual_seed(seed))
    chunks: list[np.ndarray] = []
    for i in range(0, len(unit_ids), step):
        chunks += s.push(unit_ids[i : i + step])
    chunks += s.flush()
    return chunks, s


class LocalFlow:
    """Stand-in flow whose mel depends only on the absolute frame index and the flow noise at that frame.

    Unlike the real flow (global attention and GroupNorm in the U-Net, GroupNorm in the length regulator), its
    output for a frame does not depend on how the utterance was chunked, so any streaming-vs-whole difference
    comes from the streaming machinery (prompt bookkeeping, cross-fade, HiFT context and tail, source phases,
    noise positions) alone.
    """

    LEVEL = -6.0

    def __init__(self, real) -> None:
        self.real, self.cfg = real, real.cfg

    def frames_for(self, n_units: int) -> int:
        return self.real.frames_for(n_units)

    def inference(self, token, prompt_token, prompt_feat, noise=None, estimator=None, should_stop=None):
        n_frames = self.frames_for(token.shape[1] + prompt_token.shape[1])
        frame = torch.arange(n_frames, dtype=torch.float32)
        channel = torch.arange(80, dtype=torch.float32)[:, None]
        mel = self.LEVEL + 1.5 * torch.sin(frame / 9 + channel / 5) + 0.3 * noise[0]
        return mel[None, :, prompt_feat.shape[1] :]


def with_local_flow(dec: Vocoder) -> Vocoder:
    """A shallow copy of `dec` whose flow is `LocalFlow`."""
    clone = object.__new__(Vocoder)
    clone.__dict__.update(dec.__dict__)
    clone.flow = LocalFlow(dec.flow)
    return clone
