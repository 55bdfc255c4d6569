"""Low-VRAM weights (`--weights int8`): loaded through the real loader, quantized layer by layer, close to fp32.

Tolerances: the tiny checkpoint has random weights (std 0.2), where any rounding is amplified layer by layer and
the 16k-token TTS vocabulary has near-ties. The yardstick is bfloat16 (the app's CUDA default precision): int8
per-row weights differ from fp32 by about as much as bf16 weights do (observed 1.0-1.6x on the LLM's first-step
logits, 0.6-1.5x on the TTS LM's), so the tests allow 3x the bf16 difference and 10 % of the largest logit.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.multiprocessing.reductions import StorageWeakRef

import models.checkpoint as checkpoint_mod
from app.settings import AppSettings
from core.lm.conversation import Conversation
from core.lm.events import SpeechUnits, TextDelta, TurnEnd
from core.lm.runner import OpenS2SRunner
from core.lm.sampling import SamplingConfig
from models import quantize
from models.errors import CheckpointError, UserError
from models.quantize import quantizable_linears, storage_bytes
from models.weights import WEIGHT_KINDS, WeightsOption, WeightsOptionError
from tests.cpu_paths import BF16_FORCED_PATH_ARTIFACT
from tests.helpers import synthetic_clip

pytest.importorskip("torchao")

GREEDY = SamplingConfig(greedy=True, max_text_tokens=8, max_units=16)
BF16_FACTOR = 3.0  # int8's first-step logits error may be this many times bf16's
MAX_REL_ERROR = 0.10  # ... and at most this fraction of the largest first-step logit


@pytest.fixture(scope="module")
def runners(tiny_checkpoint):
    return {
        "full": OpenS2SRunner.load(tiny_checkpoint, device="cpu"),
        "bf16": OpenS2SRunner.load(tiny_checkpoint, device="cpu", dtype="bfloat16"),
        "int8": OpenS2SRunner.load(tiny_checkpoint, device="cpu", weights="int8"),
    }


def _run(runner: OpenS2SRunner, conv: Conversation) -> tuple[dict[str, list[torch.Tensor]], list[int], list]:
    logits: dict[str, list[torch.Tensor]] = {"llm": [], "tts": []}
    events = list(runner.reply(conv, GREEDY, logits_sink=lambda name, x: logits[name].append(x.float().clone())))
    text = [t for e in events if isinstance(e, TextDelta) for t in e.token_ids]
    return logits, text, events


def _conversation(kind: str) -> Conversation:
    conv = Conversation()
    if kind == "text":
        conv.add_user_text("Hello there, how are you?")
    else:
        conv.add_user_audio(synthetic_clip(2.0))
    return conv


def test_int8_linears_are_quantized_and_smaller(runners):
    full, int8 = runners["full"].model, runners["int8"].model
    selected = quantizable_linears(int8, WeightsOption("int8"))
    assert selected and all(".model.layers." in k for k in selected)
    for key, linear in selected.items():
        assert type(linear.weight) is not nn.Parameter and linear.weight.dtype == torch.float32, key
        out_f, in_f = linear.out_features, linear.in_features
        assert storage_bytes(linear) == out_f * in_f + out_f * (4 + 1), key  # int8 data + fp32 scale, int8 zero
    for lm in ("llm_model", "tts_lm_model"):
        q, f = storage_bytes(getattr(int8, lm).model.layers), storage_bytes(getattr(full, lm).model.layers)
        assert q < 0.3 * f  # 1 byte per weight + 5 per row vs 4 per weight; norms stay fp32
    # what is kept full precision, is
    assert type(int8.llm_model.lm_head.weight) is nn.Parameter
    assert type(int8.llm_model.get_input_embeddings().weight) is nn.Parameter
    assert type(int8.llm2tts.weight) is nn.Parameter
    assert storage_bytes(int8.audio_encoder_model) == storage_bytes(full.audio_encoder_model)
    assert storage_bytes(int8) < storage_bytes(full)


@BF16_FORCED_PATH_ARTIFACT  # runs the bf16 runner as the yardstick
@pytest.mark.parametrize("kind", ["text", "audio"])
def test_int8_reply_close_to_full_precision(runners, kind):
    conv = _conversation(kind)
    ref_logits, ref_text, _ = _run(runners["full"], conv)
    bf_logits, _, _ = _run(runners["bf16"], conv)
    q_logits, q_text, events = _run(runners["int8"], conv)
    assert isinstance(events[-1], TurnEnd) and any(isinstance(e, SpeechUnits) and e.units for e in events)
    for lm in ("llm", "tts"):
        ref, q, bf = ref_logits[lm][0], q_logits[lm][0], bf_logits[lm][0]
        err, bf_err = (q - ref).abs().max().item(), (bf - ref).abs().max().item()
        assert err <= BF16_FACTOR * bf_err, (lm, err, bf_err)
        assert err <= MAX_REL_ERROR * ref.abs().max().item(), (lm, err)
        assert q.argmax() == ref.argmax(), lm
    agree = next((i for i, (a, b) in enumerate(zip(ref_text, q_text, strict=False)) if a != b), len(ref_text))
    assert agree >= len(ref_text) // 2, (ref_text, q_text)  # greedy text tokens: at least the first half agree


@pytest.mark.parametrize("weights", ["full", "int8"])
def test_computed_memory_estimate_matches_measured_bytes(tiny_checkpoint, weights):
    """bench/lowvram_estimate.py's bytes (used for the 8B table) equal what a bf16 load really holds."""
    from bench.lowvram_estimate import estimate

    runner = OpenS2SRunner.load(tiny_checkpoint, device="cpu", dtype="bfloat16", weights=weights)
    buffers = sum(b.untyped_storage().nbytes() for b in runner.model.buffers())  # rotary tables: not weights
    computed = estimate(runner.ckpt.config, weights, llm_positions=0, tts_positions=0).weight_bytes
    assert storage_bytes(runner.model) - buffers == computed


def test_quantized_layer_by_layer_while_loading(tiny_checkpoint, monkeypatch):
    """No full-precision weight of a quantized Linear outlives its own quantization: when the loader reads the
    next tensor, every earlier one's storage has been freed (peak = quantized model + one matrix)."""
    real_iter = checkpoint_mod.iter_tensors
    alive: list[tuple[str, StorageWeakRef]] = []
    worst = []

    def watched(files, device):
        for key, tensor in real_iter(files, device):
            worst.append(sum(not ref.expired() for _, ref in alive))
            if ".model.layers." in key and key.endswith("_proj.weight"):
                alive.append((key, StorageWeakRef(tensor.untyped_storage())))
            yield key, tensor

    monkeypatch.setattr(checkpoint_mod, "iter_tensors", watched)
    runner = OpenS2SRunner.load(tiny_checkpoint, device="cpu", weights="int8")
    assert len(alive) == len(quantizable_linears(runner.model, WeightsOption("int8")))
    assert max(worst) == 0 and all(ref.expired() for _, ref in alive)


def test_full_precision_keeps_every_weight(tiny_checkpoint, monkeypatch):
    """Control for the test above: without quantization the same storages stay alive (they are the model)."""
    real_iter = checkpoint_mod.iter_tensors
    alive = []

    def watched(files, device):
        for key, tensor in real_iter(files, device):
            if ".model.layers." in key and key.endswith("_proj.weight"):
                alive.append(StorageWeakRef(tensor.untyped_storage()))
            yield key, tensor

    monkeypatch.setattr(checkpoint_mod, "iter_tensors", watched)
    runner = OpenS2SRunner.load(tiny_checkpoint, device="cpu")
    assert alive and not any(ref.expired() for ref in alive)
    assert runner.weights == WeightsOption()


def test_strict_key_check_still_applies_when_quantizing(tiny_checkpoint, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, ckpt)
    edited = []
    for shard in sorted(ckpt.glob("model-*.safetensors")):  # a quantized Linear reshaped, another one missing
        state = load_file(str(shard))
        for key in sorted(state):
            if key.endswith("_proj.weight") and ".model.layers." in key and len(edited) < 2:
                edited.append(key)
                if len(edited) == 1:
                    state[key] = torch.zeros(3, 3)
                else:
                    del state[key]
        save_file(state, str(shard), metadata={"format": "pt"})
    victim, gone = edited
    with pytest.raises(CheckpointError) as err:
        OpenS2SRunner.load(ckpt, device="cpu", weights="int8")
    assert victim in str(err.value) and gone in str(err.value)


def test_bad_options_give_one_line_errors(tiny_checkpoint, monkeypatch):
    with pytest.raises(WeightsOptionError, match="use one of full, int8, int4"):
        WeightsOption("int3")
    assert issubclass(WeightsOptionError, UserError) and issubclass(WeightsOptionError, ValueError)
    with pytest.raises(UserError, match="int4 needs a CUDA GPU"):
        OpenS2SRunner.load(tiny_checkpoint, device="cpu", weights="int4")
    with pytest.raises(UserError, match="int8 works with float32, bfloat16 or float16"):
        OpenS2SRunner.load(tiny_checkpoint, device="cpu", dtype="float64", weights="int8")
    monkeypatch.setattr(quantize, "torchao_available", lambda: False)
    with pytest.raises(UserError, match="needs the torchao package"):
        OpenS2SRunner.load(tiny_checkpoint, device="cpu", weights="int8")
    OpenS2SRunner.load(tiny_checkpoint, device="cpu", weights="full")  # full needs no torchao
    assert WeightsOption.parse(None) == WeightsOption.parse("full") == WeightsOption()
    assert WeightsOption.parse(" INT8 ") == WeightsOption("int8")


def test_settings_and_cli_validate_weights():
    assert AppSettings(weights="int8").weights == "int8"
    with pytest.raises(ValueError, match="weights must be one of"):
        AppSettings(weights="int3")
    assert AppSettings.from_json({"weights": "bogus"}).weights == "full"  # an invalid stored value falls back
    from app.cli import build_parser
    from app.commands import converse, reply
    from main import GUI_COMMAND_MODULE

    parser = build_parser((GUI_COMMAND_MODULE,))
    args = parser.parse_args(["reply", "--checkpoint", "x", "--text", "hi", "--weights", "int8"])
    assert reply.build_config(args).compute.weights == "int8"
    args = parser.parse_args(["converse", "--checkpoint", "x", "--decoder", "y"])
    assert converse.build_config(args).compute.weights == "full"
    with pytest.raises(SystemExit):
        parser.parse_args(["reply", "--checkpoint", "x", "--text", "hi", "--weights", "int3"])
    assert set(WEIGHT_KINDS) == {"full", "int8", "int4"}
