"""Parity of the GLM-4-Voice decoder with the public reference implementation.

tests/data/reference_decoder_tiny.npz (numbers only) was produced by running the public reference decoder code (the
`cosyvoice` flow and HiFT modules in CASIA-LM/OpenS2S @ 359565cd, built from the tiny decoder's config.yaml, fp32,
CPU) outside this repository on the tiny decoder `make_tiny_decoder(seed=0)` writes. Its noise was the reference's
own: the flow reseeds the global RNG to 42 and HiFT drew from the global RNG seeded 123; we inject the same draws
through generators with those seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.decoder_checkpoint import load_decoder
from models.tiny_decoder import make_tiny_decoder

REF = Path(__file__).parent / "data" / "reference_decoder_tiny.npz"
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
    dec, ref = decoder_and_ref
    gen = torch.Generator().manual_seed(int(ref["hift_seed"]))
    with torch.inference_mode():
        wav, source = dec.hift.inference(torch.tensor(ref["noprompt_mel"]), generator=gen)
    np.testing.assert_allclose(source.numpy(), ref["source"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(wav.numpy(), ref["wav"], atol=1e-5, rtol=0)
