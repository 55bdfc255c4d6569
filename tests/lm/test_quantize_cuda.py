"""Low-VRAM weights on CUDA (bf16 + int8 / int4): skipped without a GPU; run on a lent GPU machine."""

from __future__ import annotations

import pytest
import torch

from core.lm.conversation import Conversation
from core.lm.events import SpeechUnits, TurnEnd
from core.lm.runner import OpenS2SRunner
from core.lm.sampling import SamplingConfig
from models.quantize import quantizable_linears, storage_bytes
from models.tiny_checkpoint import TinySpec, make_tiny_checkpoint
from models.weights import WeightsOption

pytest.importorskip("torchao")

# widths that are multiples of the int4 group (128), so that int4 really quantizes every block Linear
INT4_SPEC = TinySpec(llm_dim=256, llm_layers=2, llm_heads=4, llm_kv_heads=2, tts_dim=128, tts_layers=2, tts_heads=4,
                     tts_kv_heads=2)
MAX_REL_ERROR = {"int8": 0.10, "int4": 0.25}  # of the largest first-step logit (random weights amplify rounding)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_tiny_checkpoint(tmp_path_factory.mktemp("int4_ckpt"), INT4_SPEC, seed=0, shards=2)


def _load_peak(ckpt, weights: str) -> tuple[OpenS2SRunner, int]:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    runner = OpenS2SRunner.load(ckpt, device="cuda", weights=weights)
    torch.cuda.synchronize()
    return runner, torch.cuda.max_memory_allocated()


@pytest.mark.requires_gpu
@pytest.mark.parametrize("weights", ["int8", "int4"])
def test_cuda_quantized_reply_close_to_bf16(ckpt, weights):
    full, full_peak = _load_peak(ckpt, "full")
    assert full.dtype == torch.bfloat16
    quant, quant_peak = _load_peak(ckpt, weights)
    selected = quantizable_linears(quant.model, WeightsOption(weights))
    assert selected and all(type(lin.weight) is not torch.nn.Parameter for lin in selected.values())
    assert storage_bytes(quant.model.llm_model.model.layers) < 0.6 * storage_bytes(full.model.llm_model.model.layers)
    assert quant_peak < full_peak  # quantized while loading: the bf16 blocks never all sit on the GPU
    conv = Conversation()
    conv.add_user_text("Hello there, how are you?")
    cfg = SamplingConfig(greedy=True, max_text_tokens=8, max_units=16)
    logits = {}
    for name, runner in (("full", full), ("quant", quant)):
        got = []
        events = list(runner.reply(conv, cfg, logits_sink=lambda lm, x, got=got: got.append((lm, x.float()))))
        assert isinstance(events[-1], TurnEnd) and any(isinstance(e, SpeechUnits) and e.units for e in events)
        logits[name] = next(x for lm, x in got if lm == "llm")
    err = (logits["quant"] - logits["full"]).abs().max().item()
    assert err <= MAX_REL_ERROR[weights] * logits["full"].abs().max().item(), err
