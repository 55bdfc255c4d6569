"""Pieces of the decoder against hand-derived expectations (formulas from the spec, not from our code)."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from core.voice.chunk_schedule import ChunkSchedule
from core.voice.noise_tape import NoiseTape
from core.voice.vocoder_stream import crossfade_weights
from models.decoder_checkpoint import load_decoder, read_state_dict
from models.flow import mel_frames_for_units, time_grid
from models.flow_encoder import block_causal_mask, shift_relative
from models.weight_norm import WNConv1d, WNConvTranspose1d
from tests.voice.helpers import decoder, stream_decode, tiny_dir, units


def test_frame_count_is_floor_of_exact_rational():
    # F = floor(N * 22050 / (12.5 * 256)), exact rational arithmetic, N up to 3000 (spec 6.2 step 4).
    for n in range(0, 3001):
        assert mel_frames_for_units(n, 12.5) == math.floor(Fraction(n) * 22050 / (Fraction(25, 2) * 256)), n


def test_cosine_time_grid():
    expected = [1 - math.cos(math.pi / 2 * i / 10) for i in range(11)]
    np.testing.assert_allclose(time_grid(10, "cosine").numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(time_grid(4, "linear").numpy(), [0, 0.25, 0.5, 0.75, 1], atol=1e-7)


def test_block_causal_mask_by_hand():
    # blocks of 3 over 8 positions: row i sees every j <= i and the rest of its own block.
    expected = np.array([[1 if (j <= i or j // 3 == i // 3) else 0 for j in range(8)] for i in range(8)])
    assert expected[0].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]
    assert expected[4].tolist() == [1, 1, 1, 1, 1, 1, 0, 0]
    np.testing.assert_array_equal(block_causal_mask(8, 3).int().numpy(), expected)


def test_relative_shift_picks_distance_i_minus_j():
    t = 5
    # column k of the input holds relative distance (t-1-k); fill each entry with a code of (row, distance).
    scores = torch.tensor([[float(100 * i + (t - 1 - k)) for k in range(2 * t - 1)] for i in range(t)])[
        None, None
    ]
    shifted = shift_relative(scores)[0, 0]
    expected = torch.tensor([[float(100 * i + (i - j)) for j in range(t)] for i in range(t)])
    torch.testing.assert_close(shifted, expected)


def _numpy_weight_norm(g: np.ndarray, v: np.ndarray) -> np.ndarray:
    norm = np.sqrt((v.astype(np.float64) ** 2).reshape(v.shape[0], -1).sum(axis=1)).reshape(g.shape)
    return g * v / norm


@pytest.mark.parametrize("cls", [WNConv1d, WNConvTranspose1d])
def test_weight_g_v_give_g_times_unit_v(cls):
    conv = cls(4, 6, 3)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        conv.weight_v.copy_(torch.randn(conv.weight_v.shape, generator=gen))
        conv.weight_g.copy_(torch.rand(conv.weight_g.shape, generator=gen) + 0.5)
    expected = _numpy_weight_norm(conv.weight_g.detach().numpy(), conv.weight_v.detach().numpy())
    x = torch.randn(1, 4, 9, generator=gen)
    before = conv(x)
    conv.fold()
    np.testing.assert_allclose(conv.weight.detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(conv(x), before)


def test_loaded_hift_weights_equal_file_g_v():
    state = read_state_dict(tiny_dir() / "hift.pt")
    hift = load_decoder(tiny_dir()).hift
    for name in ("conv_pre", "ups.1", "resblocks.2.convs1.1", "f0_predictor.condnet.4"):
        expected = _numpy_weight_norm(state[f"{name}.weight_g"].numpy(), state[f"{name}.weight_v"].numpy())
        got = hift.get_submodule(name).weight.detach().numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_reference_crossfade_is_hamming_halves_and_ours_has_unit_gain():
    fade_in, fade_out = crossfade_weights(34, unit_gain=False)
    n = np.arange(68)
    hamming = 0.54 - 0.46 * np.cos(2 * np.pi * n / 67)
    np.testing.assert_allclose(fade_in.numpy(), hamming[:34], atol=1e-12)
    np.testing.assert_allclose(fade_out.numpy(), hamming[34:], atol=1e-12)
    assert (fade_in + fade_out).max().item() > 1.07  # the reference's halves overshoot
    fade_in, fade_out = crossfade_weights(34, unit_gain=True)
    np.testing.assert_allclose((fade_in + fade_out).numpy(), np.ones(34), atol=1e-12)


def test_chunk_schedule_validates_and_is_frozen():
    sched = ChunkSchedule(chunk_units=(12, 24, 48))
    assert [sched.units_for_chunk(i) for i in range(5)] == [12, 24, 48, 48, 48]
    with pytest.raises(dataclasses.FrozenInstanceError):
        sched.chunk_units = (1,)
    for bad in (
        {"chunk_units": ()},
        {"chunk_units": (0,)},
        {"chunk_units": (4, 24)},  # 28 mel frames - 17 first overlap - 14 HiFT tail: no audio
        {"hift_tail_frames": 0},
        {"hift_tail_frames": 30, "hift_context_frames": 28},
        {"max_prompt_units": 5},
    ):
        with pytest.raises(ValueError):
            ChunkSchedule(**bad)
    ref = ChunkSchedule.reference()
    assert ref.chunk_units == (24,) and ref.max_prompt_units is None and ref.hift_context_frames == 1


def test_noise_tape_is_independent_of_read_pattern():
    whole = NoiseTape(3, seed=5, block=4).read(0, 23)
    tape = NoiseTape(3, seed=5, block=4)
    parts = [tape.read(0, 7), tape.read(7, 8), tape.read(8, 23)]
    torch.testing.assert_close(torch.cat(parts, dim=1), whole, rtol=0, atol=0)
    tape.release(12)
    torch.testing.assert_close(tape.read(12, 20), whole[:, 12:20], rtol=0, atol=0)
    with pytest.raises(ValueError):
        tape.read(0, 2)


# Spec 6.4, "Worked lengths with 24 + 24 + 24 + 10 units": prompt_feat frames, flow output frames,
# returned (HiFT input) mel frames, samples sent.
SPEC_TABLE = [(0, 165, 131, 33280), (131, 199, 166, 42240), (297, 199, 166, 42240), (463, 102, 103, 26368)]


def test_reference_schedule_reproduces_spec_worked_lengths():
    chunks, stream = stream_decode(decoder(), units(82), ChunkSchedule.reference(), step=1)
    got = [(r.prompt_frames, r.flow_frames, r.hift_frames, r.samples) for r in stream.records]
    assert got == SPEC_TABLE
    assert [len(c) for c in chunks] == [row[3] for row in SPEC_TABLE]
    assert sum(len(c) for c in chunks) == 144128
    assert [r.final for r in stream.records] == [False, False, False, True]


def test_short_reply_below_one_chunk():
    # The reference crashes here (prompt_feat=None); we decode F(5) = 34 frames = 34 * 256 samples.
    chunks, stream = stream_decode(decoder(), units(5), ChunkSchedule.reference())
    assert [len(c) for c in chunks] == [34 * 256]
    assert stream.records[0].prompt_frames == 0


def test_exact_multiple_of_chunk_plays_the_tail():
    # 48 units = 2 reference chunks: the reference never finalises and drops 34 overlap frames + 256 samples.
    chunks, stream = stream_decode(decoder(), units(48), ChunkSchedule.reference())
    assert [len(c) for c in chunks] == [33280, 42240, (1 + 34) * 256]
    assert stream.records[-1].n_units == 0 and stream.records[-1].final
    assert np.abs(chunks[-1]).max() > 0


def test_empty_reply_and_misuse():
    dec = decoder()
    stream = dec.open_stream(generator=torch.Generator().manual_seed(0))
    assert stream.flush() == []
    with pytest.raises(RuntimeError):
        stream.push([1])
    with pytest.raises(ValueError):
        dec.open_stream().push([16384])


def test_negative_ids_clamp_to_zero():
    dec = decoder()
    a = dec.decode([-5, -1, 3, 4, 5, 6, 7], torch.Generator().manual_seed(3))
    b = dec.decode([0, 0, 3, 4, 5, 6, 7], torch.Generator().manual_seed(3))
    np.testing.assert_array_equal(a, b)


def test_prompt_stays_bounded_in_whole_blocks():
    sched = ChunkSchedule(chunk_units=(12, 24), max_prompt_units=40, max_prompt_frames=200)
    _, stream = stream_decode(decoder(), units(130), sched, step=7)
    assert max(r.prompt_units for r in stream.records) <= 40
    assert max(r.prompt_frames for r in stream.records) <= 200
    consumed = np.cumsum([0] + [r.n_units for r in stream.records])[:-1]  # units decoded before each call
    dropped = [int(c) - r.prompt_units for c, r in zip(consumed, stream.records, strict=True)]
    assert max(dropped) > 0  # the bound was hit
    assert all(d % 10 == 0 for d in dropped)  # trimmed in whole encoder blocks (block_size 10)
    assert all(r.prompt_units > 0 for r in stream.records[1:])
