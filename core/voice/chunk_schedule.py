"""When the streaming vocoder runs the flow and how much history it keeps (see `core.voice.vocoder`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from models.flow import mel_frames_for_units
from models.glm_constants import MEL_OVERLAP_FRAMES, REFERENCE_CHUNK_UNITS, UNIT_RATE_HZ

log = logging.getLogger(__name__)

# Default ("fast"): an 8-unit first chunk = 4 text + 8 unit decode steps at interleave 1:2, a third of the
# reference's 12 + 24 (3:1: 24 + 8 of 72 + 24). Its flow call holds back 17 instead of 34 mel frames, so it emits
# 55 - 17 - 14 = 24 frames (279 ms, more than the engine's 120 ms prebuffer); the next chunks grow about as fast as
# the audio already emitted allows, so at 25 units/s playback does not wait. The price: the first seam lies ~2x
# further from the whole-utterance decode than with `smooth()` (still ~5x closer than another noise seed's decode;
# docs/vocoder.md, "First chunk").
DEFAULT_CHUNK_UNITS = (8, 5, 5, 10, 18, 32, 48)
DEFAULT_FIRST_OVERLAP_FRAMES = 17
# `smooth()`: a 16-unit first chunk, then 12, 24, 48, 48... with the full 34-frame overlap everywhere: first audio
# ~0.5 s earlier than fixed 24-unit chunks at 25 units/s, 2 / 3 of the reference's decode steps.
SMOOTH_CHUNK_UNITS = (16, 12, 24, 48)
DEFAULT_MAX_PROMPT_UNITS = 250  # 20 s of history as flow prompt
# HiFT's receptive field reaches ~13 mel frames to each side (measured), so audio within 14 frames of a call's
# edge is re-synthesised by the next call, which sees 14 more frames of left context.
DEFAULT_HIFT_CONTEXT_FRAMES = 28
DEFAULT_HIFT_TAIL_FRAMES = 14
MIN_FIRST_CALL_FRAMES = 1  # a first chunk must emit some audio


@dataclass(frozen=True)
class ChunkSchedule:
    """Chunking of one utterance for `VocoderStream`.

    chunk_units: units per flow call; the last entry repeats ((8, 5, 5, 10, 18, 32, 48) -> ..., 32, 48, 48, ...).
    max_prompt_units / max_prompt_frames: bound on the flow prompt (earlier units / their mel frames);
        None = unbounded.
        The prompt is trimmed from the front in whole encoder blocks so the block grid stays aligned.
    hift_context_frames: mel frames (and source samples) carried into the next HiFT call as left context.
    hift_tail_frames: frames of audio held back at the end of a HiFT call and re-synthesised by the next one
        (with context on both sides); 1 <= tail <= context. A first call shorter than the context passes all
        its frames on as context (the next call then starts at the utterance start, as a whole decode does).
    first_overlap_frames: mel frames held back at the end of the first flow call only (later calls hold back
        MEL_OVERLAP_FRAMES = 34, as the reference) and cross-faded by the second call over the same length.
        Fewer frames let a short first chunk emit more audio, at the price of committing frames that the flow
        computed with less right context; 1 <= first_overlap_frames <= 34.
    dedupe_prompt: the reference appends the repeated HiFT cache frame to the prompt mel each chunk, which
        shifts prompt mel against prompt units by one frame per chunk; True leaves that frame out.
    continuous_source: carry the harmonic phases across chunks (the reference restarts them at random). The
        next call then recomputes its own source and only the already-emitted part of its left context keeps
        the previous call's source samples; without it all context frames keep them (the reference cache).
    unit_gain_crossfade: divide the Hamming fade weights by their sum (the reference's halves add up to ~1.08,
        which scales the log-mel of every 34-frame seam region by up to 8%).
    """

    chunk_units: tuple[int, ...] = DEFAULT_CHUNK_UNITS
    max_prompt_units: int | None = DEFAULT_MAX_PROMPT_UNITS
    max_prompt_frames: int | None = None
    hift_context_frames: int = DEFAULT_HIFT_CONTEXT_FRAMES
    hift_tail_frames: int = DEFAULT_HIFT_TAIL_FRAMES
    dedupe_prompt: bool = True
    continuous_source: bool = True
    unit_gain_crossfade: bool = True
    first_overlap_frames: int = DEFAULT_FIRST_OVERLAP_FRAMES

    def __post_init__(self) -> None:
        if not self.chunk_units or any(int(n) != n or n < 1 for n in self.chunk_units):
            raise ValueError(f"chunk_units must be positive integers, got {self.chunk_units!r}")
        object.__setattr__(self, "chunk_units", tuple(int(n) for n in self.chunk_units))
        if not 1 <= self.hift_tail_frames <= self.hift_context_frames:
            raise ValueError("need 1 <= hift_tail_frames <= hift_context_frames")
        if not 1 <= self.first_overlap_frames <= MEL_OVERLAP_FRAMES:
            raise ValueError(
                f"need 1 <= first_overlap_frames <= {MEL_OVERLAP_FRAMES}, got {self.first_overlap_frames}"
            )
        if (emitted := self.first_call_frames()) < MIN_FIRST_CALL_FRAMES:
            raise ValueError(
                f"first chunk of {self.chunk_units[0]} units gives "
                f"{mel_frames_for_units(self.chunk_units[0], UNIT_RATE_HZ)} mel frames; after the "
                f"{self.first_overlap_frames}-frame first overlap and the {self.hift_tail_frames}-frame HiFT tail "
                f"it would emit {emitted} frames of audio (need >= {MIN_FIRST_CALL_FRAMES}): use more units or a "
                f"smaller first_overlap_frames / hift_tail_frames"
            )
        for name in ("max_prompt_units", "max_prompt_frames"):
            value = getattr(self, name)
            if value is not None and value < min_prompt_bound(name):
                raise ValueError(f"{name} must be None or >= {min_prompt_bound(name)}, got {value}")

    def emitted_frames_through(self, index: int) -> int:
        """Mel frames of audio out once the `index`-th flow call (0-based, not the last) has run: the frames of all
        its units so far, less the overlap that call holds back and the HiFT tail. The second call emits its
        units' frames less 34 - first_overlap_frames (the longer overlap it holds back)."""
        units = sum(self.units_for_chunk(i) for i in range(index + 1))
        return max(0, mel_frames_for_units(units, UNIT_RATE_HZ) - self.overlap_for_chunk(index) - self.hift_tail_frames)

    def overlap_for_chunk(self, index: int) -> int:
        """Mel frames held back at the end of the `index`-th flow call (0-based) and cross-faded by the next."""
        return self.first_overlap_frames if index == 0 else MEL_OVERLAP_FRAMES

    def first_call_frames(self) -> int:
        """Mel frames of audio the first (non-final) call emits: F(first chunk) - first overlap - HiFT tail."""
        n_frames = mel_frames_for_units(self.chunk_units[0], UNIT_RATE_HZ)
        return n_frames - self.first_overlap_frames - self.hift_tail_frames

    def units_for_chunk(self, index: int) -> int:
        """Units of the `index`-th flow call (0-based)."""
        return self.chunk_units[min(index, len(self.chunk_units) - 1)]

    @classmethod
    def smooth(cls) -> ChunkSchedule:
        """A 16-unit first chunk and the full 34-frame overlap: seams closest to a whole decode, first audio later
        (decode steps before it: 2 / 3 of the reference's at 1:2); everything else as the default."""
        return cls(chunk_units=SMOOTH_CHUNK_UNITS, first_overlap_frames=MEL_OVERLAP_FRAMES)

    @classmethod
    def preset(cls, name: str) -> ChunkSchedule:
        """`fast` (the default), `smooth` or `reference`; ValueError naming the choices otherwise."""
        makers = {"fast": cls, "smooth": cls.smooth, "reference": cls.reference}
        if name not in makers:
            raise ValueError(f"unknown vocoder schedule {name!r}; use one of {', '.join(makers)}")
        return makers[name]()

    @classmethod
    def reference(cls) -> ChunkSchedule:
        """The OpenS2S worker: fixed 24-unit chunks, unbounded prompt, 1-frame HiFT cache, its prompt mel."""
        return cls(
            chunk_units=(REFERENCE_CHUNK_UNITS,),
            max_prompt_units=None,
            max_prompt_frames=None,
            hift_context_frames=1,
            hift_tail_frames=1,
            dedupe_prompt=False,
            continuous_source=False,
            unit_gain_crossfade=False,
            first_overlap_frames=MEL_OVERLAP_FRAMES,
        )


def min_prompt_bound(name: str) -> int:
    """Smallest allowed prompt bound: the prompt must outlast the mel overlap (units: 2 encoder blocks)."""
    return 20 if name == "max_prompt_units" else 2 * MEL_OVERLAP_FRAMES
