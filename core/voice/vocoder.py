"""GLM-4-Voice speech units -> 22050 Hz audio, whole or streaming, on a torch or ONNX Runtime backend.

    dec = Vocoder.load(decoder_dir, backend="torch" | "onnx", device=None)   # raises CheckpointError
    s = dec.open_stream(schedule=ChunkSchedule(...), generator=torch.Generator().manual_seed(0))
    chunks = s.push(units)            # list[np.ndarray float32], possibly empty
    chunks += s.flush()               # the tail; the stream is done afterwards

All randomness comes from the caller's generator (see `core.voice.noise_tape`); `decode()` runs the same code path
with the whole utterance as one chunk, so it reads the same noise at the same positions as a stream.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.voice.chunk_schedule import ChunkSchedule
from core.voice.vocoder_stream import VocoderStream
from models.decoder_checkpoint import LoadedDecoder, load_decoder
from models.errors import UserError
from models.flow import EstimatorFn
from models.glm_constants import SAMPLE_RATE_HZ
from models.hift import HiftParts, SourceNoise

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx")
BACKEND_ENV = "OPENS2S_VOCODER_BACKEND"


@dataclass(frozen=True)
class VocoderConfig:
    """How to run the decoder. `backend`: "torch" or "onnx"; `device`: torch device (None: CUDA if available);
    `onnx_cache_dir`: where exported graphs go (None: beside the checkpoint, else the user cache dir)."""

    backend: str = "torch"
    device: str | None = None
    onnx_cache_dir: str | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise UserError(f"unknown vocoder backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")

    @classmethod
    def from_env(cls, **overrides) -> VocoderConfig:
        """Defaults, then `OPENS2S_VOCODER_BACKEND`, then explicit non-None overrides."""
        values = {"backend": os.environ.get(BACKEND_ENV, "torch")}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def pick_device(device: str | torch.device | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Vocoder:
    """A loaded GLM-4-Voice decoder plus the backend that runs its U-Net and HiFT networks."""

    sample_rate_hz = SAMPLE_RATE_HZ

    def __init__(self, loaded: LoadedDecoder, config: VocoderConfig) -> None:
        self.loaded, self.config = loaded, config
        self.device = pick_device(config.device)
        self.flow = loaded.flow.to(self.device)
        self.hift = loaded.hift.to(self.device)
        self.estimator: EstimatorFn | None = None  # None: the torch U-Net
        self.hift_parts: HiftParts | None = None  # None: the torch F0 predictor and conv body
        if config.backend == "onnx":
            from core.voice.onnx_backend import build_onnx_backend

            self.estimator, self.hift_parts = build_onnx_backend(loaded, self.device, config.onnx_cache_dir)
        log.info("vocoder ready: backend %s on %s", config.backend, self.device)

    @classmethod
    def load(
        cls,
        decoder_dir: str | Path,
        backend: str = "torch",
        device: str | None = None,
        config: VocoderConfig | None = None,
    ) -> Vocoder:
        """Load `config.yaml`, `flow.pt`, `hift.pt` from `decoder_dir`; raises `CheckpointError`."""
        config = config or VocoderConfig(backend=backend, device=device)
        return cls(load_decoder(decoder_dir), config)

    @property
    def backend(self) -> str:
        return self.config.backend

    def open_stream(
        self, schedule: ChunkSchedule | None = None, generator: torch.Generator | None = None
    ) -> VocoderStream:
        """A new per-utterance stream; `generator` seeds all its noise (a random seed when None)."""
        return VocoderStream(self, schedule or ChunkSchedule(), generator)

    def decode(
        self,
        units: Iterable[int],
        generator: torch.Generator | None = None,
        schedule: ChunkSchedule | None = None,
    ) -> np.ndarray:
        """Whole-utterance decoding (one flow call, one HiFT call); [N] float32."""
        units = list(units)
        base = schedule or ChunkSchedule()
        whole = ChunkSchedule(
            chunk_units=(max(len(units) + 1, base.chunk_units[0]),),
            hift_context_frames=base.hift_context_frames,
            hift_tail_frames=base.hift_tail_frames,
            continuous_source=base.continuous_source,
            first_overlap_frames=base.first_overlap_frames,  # keeps the whole schedule valid for tiny replies
        )
        stream = self.open_stream(whole, generator)
        parts = stream.push(units) + stream.flush()
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def check_units(self, units: Iterable[int]) -> list[int]:
        """Unit ids as ints; negatives clamp to 0 (as the flow does); ids beyond the vocabulary are errors."""
        values = [max(0, int(u)) for u in units]
        vocab = self.flow.cfg.vocab_size
        bad = [u for u in values if u >= vocab]
        if bad:
            shown = ", ".join(str(u) if len(str(u)) <= 12 else f"{str(u)[:6]}...({len(str(u))} digits)"
                              for u in bad[:5])
            raise ValueError(f"speech unit ids must be < {vocab}; got [{shown}] (pass ids minus <|audio_0|>)")
        return values

    @torch.inference_mode()
    def predict_f0(self, mel: torch.Tensor) -> torch.Tensor:
        """[1, 80, T] mel -> [1, T] F0 (Hz) on the decoder's device."""
        return self.hift.predict_f0(mel.to(self.device), self.hift_parts)

    def run_hift(
        self,
        mel: torch.Tensor,
        cache_source: torch.Tensor | None,
        noise: SourceNoise,
        f0: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """HiFT on the decoder's device; returns CPU ([1, L] audio, [1, 1, L] source, [1, H+1, L] cycles)."""
        dev = self.device
        noise = SourceNoise(noise.phases.to(dev), noise.sine_noise.to(dev), noise.keep_fundamental_phase)
        cache = None if cache_source is None else cache_source.to(dev)
        audio, source, cycles = self.hift.synthesize(mel.to(dev), cache, noise, self.hift_parts, f0)
        return audio.float().cpu(), source.float().cpu(), cycles.float().cpu()
