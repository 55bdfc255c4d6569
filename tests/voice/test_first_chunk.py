"""Short first vocoder chunks: `first_overlap_frames`, a first HiFT call shorter than the HiFT context, validation,
length accounting, and the default schedule's first-audio claims (docs/vocoder.md, "First chunk")."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.voice.chunk_schedule import (
    DEFAULT_CHUNK_UNITS,
    DEFAULT_FIRST_OVERLAP_FRAMES,
    SMOOTH_CHUNK_UNITS,
    ChunkSchedule,
)
from models.flow import mel_frames_for_units
from models.glm_constants import (
    MEL_HOP_SAMPLES,
    MEL_OVERLAP_FRAMES,
    REFERENCE_CHUNK_UNITS,
    SAMPLE_RATE_HZ,
    UNIT_RATE_HZ,
)
from tests.voice.helpers import decoder, stream_decode, units, with_local_flow

MACHINERY_TOLERANCE = 2e-3  # as tests/voice/test_stream.py: relative to the whole waveform's peak
PREBUFFER_S = 0.120  # the engine's jitter-buffer fill (AudioConfig.prebuffer_ms)
SHORT_FIRST = ChunkSchedule(chunk_units=(6, 8, 16), first_overlap_frames=17)  # 41 - 17 = 24 < 28 context frames


def test_default_meets_the_steps_target_and_fills_the_prebuffer():
    sched = ChunkSchedule()
    assert sched.chunk_units == DEFAULT_CHUNK_UNITS and ChunkSchedule.preset("fast") == sched
    smooth = ChunkSchedule.smooth()
    assert smooth.chunk_units == SMOOTH_CHUNK_UNITS and smooth.first_overlap_frames == MEL_OVERLAP_FRAMES
    with pytest.raises(ValueError, match="fast, smooth, reference"):
        ChunkSchedule.preset("turbo")
    # 1:2 interleave: ceil(N/2) text + N unit steps <= 1/3 of the reference's 12 + 24
    n = sched.chunk_units[0]
    assert 3 * (-(-n // 2) + n) <= -(-REFERENCE_CHUNK_UNITS // 2) + REFERENCE_CHUNK_UNITS
    assert sched.first_overlap_frames == DEFAULT_FIRST_OVERLAP_FRAMES < MEL_OVERLAP_FRAMES
    assert sched.first_call_frames() * MEL_HOP_SAMPLES / SAMPLE_RATE_HZ >= PREBUFFER_S


def test_first_overlap_validation_messages():
    with pytest.raises(ValueError, match="first_overlap_frames"):
        ChunkSchedule(first_overlap_frames=0)
    with pytest.raises(ValueError, match=f"<= {MEL_OVERLAP_FRAMES}"):
        ChunkSchedule(first_overlap_frames=MEL_OVERLAP_FRAMES + 1)
    # 6 units = 41 frames - 34 overlap - 14 tail < 1: the message names the numbers and the knobs
    with pytest.raises(ValueError, match=r"6 units gives 41 mel frames.*34-frame first overlap.*14-frame HiFT tail"):
        ChunkSchedule(chunk_units=(6, 12), first_overlap_frames=MEL_OVERLAP_FRAMES)
    assert ChunkSchedule(chunk_units=(8, 12), first_overlap_frames=12).first_call_frames() == 55 - 12 - 14
    assert ChunkSchedule.reference().first_overlap_frames == MEL_OVERLAP_FRAMES
    assert [ChunkSchedule(first_overlap_frames=12).overlap_for_chunk(i) for i in range(3)] == [12, 34, 34]


@pytest.mark.parametrize(
    "sched",
    [ChunkSchedule(chunk_units=(8, 8, 16), first_overlap_frames=34), SHORT_FIRST],
    ids=["8@34", "6@17"],  # the default schedule: the next test
)
def test_short_first_chunk_machinery_matches_whole_utterance(sched):
    # chunk-independent stand-in flow: any difference would come from the overlap / HiFT bookkeeping
    dec = with_local_flow(decoder())
    unit_ids = units(40)
    chunks, stream = stream_decode(dec, unit_ids, sched, step=3)
    streamed = np.concatenate(chunks)
    whole = dec.decode(unit_ids, torch.Generator().manual_seed(1), schedule=sched)
    assert streamed.shape == whole.shape
    assert np.abs(streamed - whole).max() <= MACHINERY_TOLERANCE * np.abs(whole).max()
    assert len(chunks[0]) == sched.first_call_frames() * MEL_HOP_SAMPLES
    assert stream.records[0].hift_frames == mel_frames_for_units(sched.chunk_units[0], UNIT_RATE_HZ) - (
        sched.first_overlap_frames
    )


@pytest.mark.parametrize("n_units", [8, 9, 30])
def test_real_flow_lengths_add_up_for_the_default(n_units):
    dec, unit_ids, sched = decoder(), units(n_units, seed=n_units), ChunkSchedule()
    chunks, _ = stream_decode(dec, unit_ids, sched, step=1)
    whole = dec.decode(unit_ids, torch.Generator().manual_seed(1), schedule=sched)
    assert sum(len(c) for c in chunks) == len(whole)
    assert len(whole) == mel_frames_for_units(n_units, UNIT_RATE_HZ) * MEL_HOP_SAMPLES
    if n_units > sched.chunk_units[0]:  # the first call ran before the flush
        assert len(chunks[0]) == sched.first_call_frames() * MEL_HOP_SAMPLES


def test_push_pattern_does_not_matter():
    # the engine's vocoder thread pushes whatever it drained: 1 unit, a burst, everything at once
    dec, unit_ids = decoder(), units(50)
    one, _ = stream_decode(dec, unit_ids, SHORT_FIRST, step=1)
    sizes, pos, s = [2, 11, 1, 30, 6], 0, dec.open_stream(SHORT_FIRST, torch.Generator().manual_seed(1))
    bursts = []
    for size in sizes:
        bursts += s.push(unit_ids[pos : pos + size])
        pos += size
    bursts += s.flush()
    assert [len(c) for c in bursts] == [len(c) for c in one]
    for a, b in zip(one, bursts, strict=True):
        np.testing.assert_array_equal(a, b)


def test_flush_right_after_a_short_first_call_plays_its_held_frames():
    # 6 units exactly: the first call holds back 17 frames and 14 tail frames; flush plays them all
    dec = with_local_flow(decoder())
    unit_ids = units(6)
    chunks, stream = stream_decode(dec, unit_ids, SHORT_FIRST, step=6)
    assert [r.n_units for r in stream.records] == [6, 0]
    assert sum(len(c) for c in chunks) == len(dec.decode(unit_ids, torch.Generator().manual_seed(1)))


def test_default_machinery_matches_whole_utterance():
    dec, sched = with_local_flow(decoder()), ChunkSchedule()
    unit_ids = units(70)
    chunks, _ = stream_decode(dec, unit_ids, sched, step=1)
    streamed, whole = np.concatenate(chunks), dec.decode(unit_ids, torch.Generator().manual_seed(1), schedule=sched)
    assert len(chunks) >= 5 and streamed.shape == whole.shape
    assert np.abs(streamed - whole).max() <= MACHINERY_TOLERANCE * np.abs(whole).max()
