"""Loading the released layout: round trips, strict key checks, and clear errors for broken directories."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from models.checkpoint import load_checkpoint
from models.config import OpenS2SConfig
from models.errors import CheckpointError
from models.tiny_checkpoint import TinySpec, make_tiny_checkpoint

CPU = torch.device("cpu")


def _stored(ckpt: Path) -> dict[str, torch.Tensor]:
    state = {}
    for f in sorted(ckpt.glob("model*.safetensors")):
        state.update(load_file(str(f)))
    return state


@pytest.fixture()
def ckpt_copy(tiny_checkpoint, tmp_path):
    dst = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, dst)
    return dst


@pytest.mark.parametrize("shards", [1, 3])
def test_round_trip(tmp_path, shards):
    ckpt = make_tiny_checkpoint(tmp_path / "c", TinySpec(n_units=64), seed=7, shards=shards)
    assert (ckpt / "model.safetensors.index.json").exists() == (shards > 1)
    loaded = load_checkpoint(ckpt, CPU, torch.float32)
    stored = _stored(ckpt)
    state = loaded.model.state_dict()
    assert set(state) == set(stored)
    for key, tensor in stored.items():
        assert torch.equal(state[key], tensor), key
    assert not any(b.is_meta for b in loaded.model.buffers())
    assert loaded.config.interleave_strategy == "1:2"
    assert loaded.config.llm.rope_parameters["rope_theta"] == 1_000_000.0


def test_config_keeps_released_fields(tiny_checkpoint):
    raw = json.loads((tiny_checkpoint / "config.json").read_text())
    assert raw["model_type"] == ""
    assert raw["llm_config"]["rope_theta"] == 1_000_000.0 and "rope_parameters" not in raw["llm_config"]
    cfg = OpenS2SConfig.from_dict({**raw, "interleave_strategy": "4:8", "conv_kernel_sizes": "5,5,5"})
    assert (cfg.text_span, cfg.speech_span, cfg.conv_kernel_sizes) == (4, 8, (5, 5, 5))
    raw.pop("interleave_strategy")
    assert OpenS2SConfig.from_dict(raw).interleave_strategy == "1:2"  # the code default


def test_tied_tts_head_is_retied_when_omitted(tmp_path):
    ckpt = make_tiny_checkpoint(tmp_path / "c", TinySpec(n_units=64, tie_tts_embeddings=True), shards=1)
    assert "tts_lm_model.lm_head.weight" not in _stored(ckpt)
    tts = load_checkpoint(ckpt, CPU, torch.float32).model.tts_lm_model
    assert tts.lm_head.weight is tts.get_input_embeddings().weight


def _rewrite_shard(ckpt: Path, edit) -> None:
    shard = sorted(ckpt.glob("model-*.safetensors"))[0]
    state = load_file(str(shard))
    edit(state)
    save_file(state, str(shard), metadata={"format": "pt"})


def test_strict_load_names_every_bad_key(ckpt_copy):
    index = json.loads((ckpt_copy / "model.safetensors.index.json").read_text())["weight_map"]
    first_shard = sorted(ckpt_copy.glob("model-*.safetensors"))[0].name
    victims = sorted(k for k, v in index.items() if v == first_shard)
    gone, reshaped = victims[0], victims[1]

    def edit(state):
        del state[gone]
        state[reshaped] = torch.zeros(3, 3)
        state["llm_model.extra_head.weight"] = torch.zeros(2)

    _rewrite_shard(ckpt_copy, edit)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(ckpt_copy, CPU, torch.float32)
    msg = str(err.value)
    assert gone in msg and reshaped in msg and "llm_model.extra_head.weight" in msg
    assert "missing" in msg and "unexpected" in msg and "wrong shape" in msg and "\n" not in msg


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda c: (c / "config.json").unlink(), "config.json not found"),
        (lambda c: (c / "config.json").write_text("{not json"), "not readable JSON"),
        (lambda c: _set_json(c / "config.json", model_type="whisper"), "not OpenS2S"),
        (lambda c: _set_json(c / "config.json", interleave_strategy="two"), "interleave_strategy"),
        (lambda c: _set_json(c / "config.json", lora_config={"r": 16}), "LoRA"),
        (lambda c: _truncate(sorted(c.glob("model-*.safetensors"))[0]), "corrupt or truncated"),
        (lambda c: sorted(c.glob("model-*.safetensors"))[1].unlink(), "missing; re-download"),
        (lambda c: (c / "model.safetensors.index.json").unlink(), "no model.safetensors.index.json"),
        (lambda c: shutil.rmtree(c / "tts"), "TTS tokenizer"),
        (lambda c: shutil.rmtree(c / "audio"), "audio/ folder is missing"),
    ],
    ids=["no-config", "bad-json", "other-model", "bad-interleave", "lora", "truncated", "missing-shard",
         "no-index", "no-tts", "no-audio"],
)
def test_broken_checkpoints_give_one_line_errors(ckpt_copy, breakage, expected):
    breakage(ckpt_copy)
    with pytest.raises(CheckpointError, match=expected) as err:
        load_checkpoint(ckpt_copy, CPU, torch.float32)
    assert "\n" not in str(err.value)


def _set_json(path: Path, **fields) -> None:
    raw = json.loads(path.read_text())
    raw.update(fields)
    path.write_text(json.dumps(raw))


def test_pickle_only_weights_are_refused(tmp_path, tiny_checkpoint):
    dst = tmp_path / "pickled"
    shutil.copytree(tiny_checkpoint, dst, ignore=shutil.ignore_patterns("model*.safetensors*"))
    torch.save({"x": torch.zeros(1)}, dst / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="safetensors only"):
        load_checkpoint(dst, CPU, torch.float32)


def test_not_a_directory(tmp_path):
    with pytest.raises(CheckpointError, match="not a directory"):
        load_checkpoint(tmp_path / "nope", CPU, torch.float32)
