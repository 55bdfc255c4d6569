"""Parity of the GLM-4-Voice decoder with the public reference implementation.

tests/reference/reference_decoder_tiny.npz (numbers only) was produced by running the public reference decoder code (the
`cosyvoice` flow and HiFT modules in CASIA-LM/OpenS2S @ 359565cd, built from the tiny decoder's config.yaml, fp32,
CPU) outside this repository on the tiny decoder `make_tiny_decoder(seed=0)` writes. Its noise was the reference's
own: the flow reseeds the global RNG to 42 and HiFT drew from the global RNG seeded 123; we inject the same draws
through generators with those seeds.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from models.decoder_checkpoint import load_decoder
from models.hift import SourceNoise
from models.tiny_decoder import make_tiny_decoder

REF = Path(__file__).parents[1] / "reference" / "reference_decoder_tiny.npz"
FLOW_REFERENCE_SEED = 42  # the reference flow's torch.manual_seed(42)


@pytest.fixture(scope="module")
def decoder_and_ref(tmp_path_factory):
    directory = make_tiny_decoder(tmp_path_factory.mktemp("dec"), seed=0)
    return load_decoder(directory), np.load(REF)


def test_flow_encoder_matches_reference(decoder_and_ref):
    dec, ref = decoder_and_ref
    units, prompt = torch.tensor(ref["units"]).long(), torch.tensor(ref["prompt"]).long()
    with torch.inference_mode():
        np.testing.assert_allclose(dec.flow.encode(units).numpy(), ref["noprompt_encoder"], atol=1e-5, rtol=0)
        both = dec.flow.encode(torch.cat([prompt, units], 1)).numpy()
    np.testing.assert_allclose(both, ref["prompt_encoder"], atol=1e-5, rtol=0)


@pytest.mark.parametrize("with_prompt", [False, True])
def test_flow_mel_matches_reference(decoder_and_ref, with_prompt):
    dec, ref = decoder_and_ref
    units = torch.tensor(ref["units"]).long()
    prompt = torch.tensor(ref["prompt"]).long() if with_prompt else torch.zeros(1, 0, dtype=torch.long)
    feat = torch.tensor(ref["prompt_feat"]) if with_prompt else torch.zeros(1, 0, 80)
    with torch.inference_mode():
        mel = dec.flow.inference(units, prompt, feat, generator=torch.Generator().manual_seed(FLOW_REFERENCE_SEED))
    want = ref["prompt_mel" if with_prompt else "noprompt_mel"]
    assert mel.shape == want.shape
    np.testing.assert_allclose(mel.numpy(), want, atol=1e-4, rtol=0)


def test_hift_waveform_matches_reference(decoder_and_ref):
    """Tolerance from a float64 rerun of the same graph (same mel, same noise): float32 rounding moves the result
    by about |float32 - float64| on any machine, in either direction (summation order changes with the CPU and the
    thread count), so ours and the stored reference may differ by up to ~2x that; FLOAT_NOISE_FACTOR = 4 leaves
    room. The tolerance must stay below 1e-2 of the peak, and a 1 % gain error (far smaller than a wrong phase,
    window or harmonic) must still exceed it, so that real bugs fail."""
    dec, ref = decoder_and_ref
    gen = torch.Generator().manual_seed(int(ref["hift_seed"]))
    mel = torch.tensor(ref["noprompt_mel"])
    noise = dec.hift.draw_noise(1, mel.shape[-1] * dec.hift.cfg.samples_per_frame, gen)
    with torch.inference_mode():
        wav, source = dec.hift.inference(mel, noise=noise)
        hift64 = copy.deepcopy(dec.hift).double()
        wav64, source64 = hift64.inference(mel.double(), noise=SourceNoise(noise.phases.double(),
                                                                          noise.sine_noise.double()))
    for name, ours, exact, want in (("source", source, source64, ref["source"]), ("wav", wav, wav64, ref["wav"])):
        ours, exact = ours.numpy(), exact.numpy()
        tol = float_noise_tolerance(ours, exact)
        assert tol < 1e-2 * np.abs(exact).max(), f"{name}: float32 noise {tol:.2e} is implausibly large"
        assert np.abs(1.01 * ours - want).max() > tol, f"{name}: a 1 % error would pass at {tol:.2e}"
        np.testing.assert_allclose(ours, want, atol=tol, rtol=0, err_msg=name)
        np.testing.assert_allclose(exact, want, atol=tol, rtol=0, err_msg=f"{name} (float64 rerun)")


FLOAT_NOISE_FACTOR = 4.0
FLOAT_NOISE_FLOOR = 1e-7  # when float32 and float64 agree exactly (a graph of exact operations)


def float_noise_tolerance(float32_out: np.ndarray, float64_out: np.ndarray) -> float:
    """FLOAT_NOISE_FACTOR x the largest float32-vs-float64 difference of the same graph on the same inputs."""
    return max(FLOAT_NOISE_FLOOR, FLOAT_NOISE_FACTOR * float(np.abs(float32_out - float64_out).max()))
