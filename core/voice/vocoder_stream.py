"""Per-utterance streaming token2wav: units in, audio chunks out (the procedure of the reference worker).

Each flow call decodes the next chunk of units with all kept earlier units and their mel as the prompt. The
first 34 frames of its mel are cross-faded (Hamming halves) with the 34 frames held back from the previous
call, and the last 34 are held back in turn (the first call may hold back fewer: `first_overlap_frames`).
HiFT gets the previous call's last mel frames and source samples as left context and holds back its last
frames, which the next call re-synthesises. `flush()` finalises: it also plays the held-back tail when no units
are pending (the reference drops it when the unit count is an exact multiple of the chunk size) and handles
replies shorter than one chunk (the reference crashes on those).

`cancel()` (any thread) stops a push or flush in progress within one flow-matching step (the solver asks before
each Euler step, whichever backend runs the estimator) and skips HiFT; the stream then returns no more audio.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from core.voice.chunk_schedule import ChunkSchedule
from core.voice.noise_tape import NoiseTape, derive_seed
from models.errors import CheckpointError
from models.flow import EstimatorFn, FlowCancelled, FlowModel
from models.glm_constants import MEL_BINS, MEL_HOP_SAMPLES, MEL_OVERLAP_FRAMES
from models.hift import HiftGenerator, SourceNoise

log = logging.getLogger(__name__)

FLOW_NOISE_BLOCK_FRAMES = 64
SOURCE_NOISE_BLOCK_SAMPLES = 64 * MEL_HOP_SAMPLES


class VocoderOutputError(CheckpointError):
    """The decoder produced NaN or infinite audio (its weights are corrupt)."""


@dataclass(frozen=True)
class ChunkRecord:
    """What one flow + HiFT call did (lengths as in the spec's worked table; times for benchmarks)."""

    n_units: int
    prompt_units: int
    prompt_frames: int
    flow_frames: int  # mel frames the flow returned for this call (F - P)
    hift_frames: int  # mel frames given to HiFT (cache frames + new frames - held-back overlap)
    samples: int  # audio samples emitted
    flow_s: float
    hift_s: float
    final: bool


def crossfade_weights(n_overlap: int, unit_gain: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """([n] fade-in, [n] fade-out) float64 weights: the halves of a symmetric Hamming window of 2n, as the
    reference, optionally normalised so that fade-in + fade-out == 1 at every frame."""
    window = torch.from_numpy(np.hamming(2 * n_overlap))
    fade_in, fade_out = window[:n_overlap], window[n_overlap:]
    if unit_gain:
        total = fade_in + fade_out
        fade_in, fade_out = fade_in / total, fade_out / total
    return fade_in, fade_out


def check_finite_audio(audio: np.ndarray, decoder: object) -> None:
    """Refuse audio with NaN or infinite samples (one reduction per chunk): corrupt decoder weights would otherwise
    be written or played as full-scale noise or a constant -1.0."""
    if audio.size and not np.isfinite(audio).all():
        loaded = getattr(decoder, "loaded", None)
        where = f" {loaded.directory}" if loaded is not None else ""
        raise VocoderOutputError(f"the decoder{where} produced non-finite audio (NaN or infinity); its weights "
                                 "(flow.pt, hift.pt) are probably corrupt: download or copy them again")


class VocoderParts(Protocol):
    """What a stream needs from its decoder (core.voice.vocoder.Vocoder): the networks and the backend."""

    flow: FlowModel
    hift: HiftGenerator
    device: torch.device
    estimator: EstimatorFn | None

    def check_units(self, units: Iterable[int]) -> list[int]: ...

    def predict_f0(self, mel: torch.Tensor) -> torch.Tensor: ...

    def run_hift(
        self, mel: torch.Tensor, cache_source: torch.Tensor | None, noise: SourceNoise, f0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]: ...


class VocoderStream:
    """`push(units)` as units arrive, `flush()` once at the end; both return lists of float32 arrays.
    `cancel()` from any thread ends it early (see the module doc)."""

    def __init__(
        self, decoder: VocoderParts, schedule: ChunkSchedule, generator: torch.Generator | None
    ) -> None:
        if generator is None:
            generator = torch.Generator()
            generator.seed()
        self.dec, self.schedule = decoder, schedule
        self._flow_noise = NoiseTape(MEL_BINS, derive_seed(generator), FLOW_NOISE_BLOCK_FRAMES)
        self._source_noise = NoiseTape(
            decoder.hift.n_harmonics, derive_seed(generator), SOURCE_NOISE_BLOCK_SAMPLES
        )
        self._phase_gen = torch.Generator().manual_seed(derive_seed(generator))
        self._phases = self._draw_phases()  # [1, H+1, 1] initial phases of the next HiFT call
        # [1, H+1, 1] phases the next HiFT call must have at its first emitted sample
        self._anchor: torch.Tensor | None = None
        # held-back length -> ([n] fade-in, [n] fade-out) weights
        self._fades = {
            n: crossfade_weights(n, schedule.unit_gain_crossfade)
            for n in {MEL_OVERLAP_FRAMES, schedule.first_overlap_frames}
        }
        self._pending: list[int] = []
        self._prompt_units: list[int] = []
        self._prompt_mel = torch.zeros(1, 0, MEL_BINS)  # [1, P, 80]
        self._frame_offset = 0  # tape position of the first prompt frame
        self._overlap: torch.Tensor | None = None  # [1, 80, o] held-back mel (o: overlap_for_chunk)
        self._cache_mel: torch.Tensor | None = None  # [1, 80, c] HiFT left context
        self._cache_source: torch.Tensor | None = None  # [1, 1, 256 c]
        self._hift_pos = 0  # tape frame position of the first HiFT input frame
        self.records: list[ChunkRecord] = []
        self.done = False
        self.n_units = 0
        self._cancel = threading.Event()

    # ---- public API -------------------------------------------------------------------------------------
    def push(self, units: Iterable[int]) -> list[np.ndarray]:
        """Add units (ids 0..vocab-1; negatives are clamped to 0); returns the audio chunks now ready."""
        if self.cancelled:
            return []
        if self.done:
            raise RuntimeError("this decoder stream was flushed; open a new one per utterance")
        new = self.dec.check_units(units)
        self._pending.extend(new)
        self.n_units += len(new)
        chunks: list[np.ndarray] = []
        try:
            while len(self._pending) >= (size := self.schedule.units_for_chunk(len(self.records))):
                batch, self._pending = self._pending[:size], self._pending[size:]
                chunks += self._decode(batch, final=False)
        except FlowCancelled:
            return self._cancelled()
        return chunks

    def flush(self) -> list[np.ndarray]:
        """Decode what is left, including the held-back tail; the stream is finished afterwards."""
        if self.done or self.cancelled:
            return self._cancelled() if self.cancelled else []
        chunks: list[np.ndarray] = []
        try:
            if self._pending or self._overlap is not None:
                chunks = self._decode(self._pending, final=True)
        except FlowCancelled:
            return self._cancelled()
        self._pending, self.done = [], True
        return chunks

    def cancel(self) -> None:
        """Thread-safe: the push or flush in progress stops before its next flow step (or before HiFT) and
        returns no audio; later calls return none either."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def _cancelled(self) -> list[np.ndarray]:
        self._pending, self.done = [], True
        return []

    # ---- one flow + HiFT call -----------------------------------------------------------------------------
    def _decode(self, units: list[int], final: bool) -> list[np.ndarray]:
        started = time.perf_counter()
        self._trim_prompt()
        n_prompt_units, n_prompt_frames = len(self._prompt_units), self._prompt_mel.shape[1]
        mel = self._run_flow(units) if units else torch.zeros(1, MEL_BINS, 0)  # [1, 80, F - P]
        if self.cancelled:
            raise FlowCancelled("cancelled before HiFT")
        flow_s = time.perf_counter() - started
        flow_frames = mel.shape[-1]
        mel = self._crossfade(mel)
        started = time.perf_counter()
        audio, hift_frames = self._vocode(mel, final)
        check_finite_audio(audio, self.dec)
        if not final:
            self._prompt_units += units
        self.records.append(
            ChunkRecord(
                len(units),
                n_prompt_units,
                n_prompt_frames,
                flow_frames,
                hift_frames,
                audio.shape[-1],
                flow_s,
                time.perf_counter() - started,
                final,
            )
        )
        return [audio] if audio.size else []

    def _run_flow(self, units: list[int]) -> torch.Tensor:
        flow, device = self.dec.flow, self.dec.device
        n_frames = flow.frames_for(len(self._prompt_units) + len(units))
        noise = self._flow_noise.read(self._frame_offset, self._frame_offset + n_frames)[None]  # [1, 80, F]
        return flow.inference(
            torch.tensor([units], device=device),
            torch.tensor([self._prompt_units], dtype=torch.long, device=device),
            self._prompt_mel.to(device),
            noise=noise.to(device),
            estimator=self.dec.estimator,
            should_stop=self._cancel.is_set,
        ).cpu()

    def _crossfade(self, mel: torch.Tensor) -> torch.Tensor:
        """Blend the start of `mel` with the previous call's held-back frames (float64, as the reference), over
        the held-back length (Hamming halves of twice that length)."""
        if self._overlap is None:
            return mel
        held = self._overlap
        fade_in, fade_out = self._fades[held.shape[-1]]
        n = min(held.shape[-1], mel.shape[-1])
        if n == 0:  # nothing new (flush without units): play the held-back frames as they are
            return held
        mel = mel.clone()
        mel[..., :n] = (mel[..., :n].double() * fade_in[:n] + held[..., :n].double() * fade_out[:n]).float()
        return mel

    def _vocode(self, mel: torch.Tensor, final: bool) -> tuple[np.ndarray, int]:
        sched, hop = self.schedule, MEL_HOP_SAMPLES
        n_ctx = 0 if self._cache_mel is None else self._cache_mel.shape[-1]
        mel_h = mel if self._cache_mel is None else torch.cat([self._cache_mel, mel], dim=-1)  # [1, 80, T]
        if not final:
            n_hold = sched.overlap_for_chunk(len(self.records))  # records: the calls before this one
            self._overlap, mel_h = mel_h[..., -n_hold:], mel_h[..., :-n_hold]
        n_samples = mel_h.shape[-1] * hop
        skip = (n_ctx - sched.hift_tail_frames) * hop if n_ctx else 0
        sine_noise = self._source_noise.read(self._hift_pos * hop, self._hift_pos * hop + n_samples)[None]
        f0 = self.dec.predict_f0(mel_h)  # [1, T]
        self._align_phases(f0, skip)
        noise = SourceNoise(self._phases, sine_noise, keep_fundamental_phase=sched.continuous_source)
        audio, source, cycles = self.dec.run_hift(mel_h, self._cache_source, noise, f0)
        if final:
            self._clear()
            return audio[0, skip:].numpy(), mel_h.shape[-1]
        keep = min(sched.hift_context_frames, mel_h.shape[-1])
        self._commit_prompt_mel(mel_h[..., n_ctx:] if sched.dedupe_prompt else mel_h)
        self._next_phases(cycles, n_samples - sched.hift_tail_frames * hop)
        pinned = keep - sched.hift_tail_frames if sched.continuous_source else keep
        self._cache_mel = mel_h[..., -keep:]
        self._cache_source = source[..., n_samples - keep * hop : n_samples - (keep - pinned) * hop]
        self._hift_pos += mel_h.shape[-1] - keep
        self._source_noise.release(self._hift_pos * hop)
        return audio[0, skip : n_samples - sched.hift_tail_frames * hop].numpy(), mel_h.shape[-1]

    # ---- state helpers ------------------------------------------------------------------------------------
    def _commit_prompt_mel(self, mel: torch.Tensor) -> None:
        self._prompt_mel = torch.cat([self._prompt_mel, mel.transpose(1, 2)], dim=1)

    def _draw_phases(self) -> torch.Tensor:
        """[1, H+1, 1] uniform in [-pi, pi), fundamental 0 (as the reference draws them)."""
        phases = (
            torch.rand(1, self.dec.hift.n_harmonics, 1, generator=self._phase_gen) * (2 * math.pi) - math.pi
        )
        phases[:, 0] = 0
        return phases

    def _next_phases(self, cycles: torch.Tensor, index: int) -> None:
        """After a call: remember the harmonic phases at `index`, the first sample the next call will emit
        (reference mode: draw fresh random phases instead)."""
        if not self.schedule.continuous_source:
            self._phases = self._draw_phases()
            return
        self._anchor = self._phases + 2 * math.pi * cycles[..., index : index + 1].cpu()

    def _align_phases(self, f0: torch.Tensor, skip: int) -> None:
        """Before a call: choose initial phases so that sample `skip` (the first emitted one, well inside both
        calls' F0 context) continues the previous call's harmonics exactly."""
        if self._anchor is None:
            return
        _, cycles = self.dec.hift.harmonic_cycles(f0)  # [1, H+1, L]
        start = self._anchor - 2 * math.pi * cycles[..., skip : skip + 1].cpu()
        self._phases = torch.remainder(start + math.pi, 2 * math.pi) - math.pi

    def _trim_prompt(self) -> None:
        """Drop whole encoder blocks of prompt units (and their mel) from the front to respect the bounds."""
        sched, flow = self.schedule, self.dec.flow
        n_units, n_frames = len(self._prompt_units), self._prompt_mel.shape[1]
        over_units = n_units - sched.max_prompt_units if sched.max_prompt_units else 0
        over_frames = n_frames - sched.max_prompt_frames if sched.max_prompt_frames else 0
        if over_units <= 0 and over_frames <= 0:
            return
        step = flow.cfg.encoder.block_size
        drop = step * max(1, math.ceil(max(over_units, 0) / step))
        while drop < n_units and flow.frames_for(n_units) - flow.frames_for(n_units - drop) < over_frames:
            drop += step
        drop = min(drop, (n_units - step) // step * step)  # keep at least one block of prompt
        if drop <= 0:
            return
        drop_frames = min(flow.frames_for(n_units) - flow.frames_for(n_units - drop), n_frames)
        self._prompt_units = self._prompt_units[drop:]
        self._prompt_mel = self._prompt_mel[:, drop_frames:]
        self._frame_offset += drop_frames
        self._flow_noise.release(self._frame_offset)
        log.debug("prompt trimmed by %d units / %d frames", drop, drop_frames)

    def _clear(self) -> None:
        self._overlap = self._cache_mel = self._cache_source = None
        self._prompt_mel = torch.zeros(1, 0, MEL_BINS)
        self._prompt_units = []
