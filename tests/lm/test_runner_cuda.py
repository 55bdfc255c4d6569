"""CUDA + bf16 path (skipped without a GPU; run on a lent GPU machine)."""

from __future__ import annotations

import pytest
import torch

from core.lm.conversation import Conversation
from core.lm.events import SpeechUnits, TextDelta, TurnEnd
from core.lm.runner import OpenS2SRunner
from core.lm.sampling import SamplingConfig
from tests.helpers import synthetic_clip


@pytest.mark.requires_gpu
def test_cuda_bf16_reply_matches_cpu_text_prefix(tiny_checkpoint):
    gpu = OpenS2SRunner.load(tiny_checkpoint)  # auto: cuda + bf16
    assert gpu.device.type == "cuda" and gpu.dtype == torch.bfloat16
    conv = Conversation()
    conv.add_user_audio(synthetic_clip(2.0))
    cfg = SamplingConfig(greedy=True, max_text_tokens=8, max_units=16)
    events = list(gpu.reply(conv, cfg))
    assert isinstance(events[-1], TurnEnd)
    text = [t for e in events if isinstance(e, TextDelta) for t in e.token_ids]
    units = [u for e in events if isinstance(e, SpeechUnits) for u in e.units]
    cpu = OpenS2SRunner.load(tiny_checkpoint, device="cpu")
    cpu_text = [t for e in cpu.reply(conv, cfg) if isinstance(e, TextDelta) for t in e.token_ids]
    assert text[:1] == cpu_text[:1]  # bf16 rounding may change later greedy choices of random weights
    assert units and all(0 <= u < 16384 for u in units)
