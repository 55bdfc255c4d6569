"""Bad checkpoint, decoder and tokenizer files (issue 31, findings 11-13, 15, 16): each is refused at load with one
line (a CheckpointError) naming the file or the key — never a hang, a traceback or a silent wrong reply."""

from __future__ import annotations

import builtins
import io
import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from models.errors import CheckpointError

SHARD = "model-00001-of-00002.safetensors"
CPU = torch.device("cpu")


@pytest.fixture
def ckpt(tiny_checkpoint, tmp_path):
    out = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, out)
    return out


def _edit_json(path: Path, fn) -> None:
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def _load(path: Path):
    from models.checkpoint import load_checkpoint

    return load_checkpoint(path, CPU, torch.float32)


def _one_line(fn, *fragments: str) -> str:
    with pytest.raises(CheckpointError) as info:
        fn()
    msg = str(info.value)
    assert "\n" not in msg, msg
    for fragment in fragments:
        assert fragment in msg, msg
    return msg


def test_a_billion_layers_is_refused_before_transformers_sees_it(ckpt, monkeypatch):
    """transformers' config builds a num_hidden_layers-long list in its constructor: a hang at 1e9."""
    import models.config as config_module

    real = config_module.CAUSAL_LM_TYPES["qwen3"]

    def guarded(**kwargs):
        assert kwargs.get("num_hidden_layers", 0) <= 512, "transformers was handed 1e9 layers"
        return real(**kwargs)

    monkeypatch.setitem(config_module.CAUSAL_LM_TYPES, "qwen3", guarded)
    _edit_json(ckpt / "config.json", lambda d: d["llm_config"].update(num_hidden_layers=10**9))
    _one_line(lambda: config_module.OpenS2SConfig.from_dir(ckpt), "llm_config.num_hidden_layers")


@pytest.mark.parametrize("value", ["64", 64.5, True, None, float("inf"), float("nan"), [64]],
                         ids=["str", "fraction", "bool", "null", "Infinity", "NaN", "list"])
def test_a_size_of_the_wrong_type_names_the_key(ckpt, value):
    from models.config import OpenS2SConfig

    _edit_json(ckpt / "config.json", lambda d: d["llm_config"].update(hidden_size=value))
    _one_line(lambda: OpenS2SConfig.from_dir(ckpt), "hidden_size")


def test_a_whole_float_size_is_accepted(ckpt):
    from models.config import OpenS2SConfig

    _edit_json(ckpt / "config.json", lambda d: d["llm_config"].update(hidden_size=64.0))
    assert OpenS2SConfig.from_dir(ckpt).llm.hidden_size == 64


@pytest.mark.parametrize("edit,key", [
    (lambda d: d["llm_config"].update(num_key_value_heads=0), "num_key_value_heads"),
    (lambda d: d["llm_config"].update(hidden_act="not_an_activation"), "hidden_act"),
    (lambda d: d["audio_encoder_config"].update(activation_function="os.system"), "activation_function"),
    (lambda d: d.update(torch_dtype="float1024"), "torch_dtype"),
    (lambda d: d["tts_lm_config"].update(torch_dtype="os.system"), "torch_dtype"),
    (lambda d: d["llm_config"].update(rms_norm_eps=float("nan")), "rms_norm_eps"),
    (lambda d: d["llm_config"].update(rms_norm_eps=-1.0), "rms_norm_eps"),
    (lambda d: d["llm_config"].update(rope_theta=float("nan")), "rope_theta"),
    (lambda d: d["llm_config"].update(initializer_range=float("inf")), "initializer_range"),
    (lambda d: d["llm_config"].update(rope_scaling={"rope_type": "nonsense"}), "rope_scaling"),
    (lambda d: d["llm_config"].update(layer_types=["full_attention"] * 7), "llm_config"),
], ids=["kv_heads_0", "hidden_act", "activation_function", "torch_dtype", "sub_torch_dtype", "eps_nan",
        "eps_negative", "rope_theta_nan", "nonfinite_unused_float", "rope_scaling", "layer_types"])
def test_bad_config_values_name_the_key(ckpt, edit, key):
    from models.config import OpenS2SConfig

    _edit_json(ckpt / "config.json", edit)
    _one_line(lambda: OpenS2SConfig.from_dir(ckpt), key)


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("name", ["config.json", "generation_config.json", "tts/generation_config.json",
                                  "tokenizer.json", "tokenizer_config.json", "model.safetensors.index.json",
                                  "audio/preprocessor_config.json"])
def test_a_deeply_nested_json_file_is_one_line_naming_it(ckpt, name):
    (ckpt / name).write_text('{"a": ' + DEEP + "}")
    _one_line(lambda: _load(ckpt), name)


def test_a_deeply_nested_decoder_yaml_is_one_line_naming_it(tmp_path):
    from models.decoder_config import load_decoder_config

    path = tmp_path / "config.yaml"
    path.write_text("flow: " + DEEP + "\n")
    _one_line(lambda: load_decoder_config(path), "config.yaml")


def test_missing_tokenizer_files_are_refused_instead_of_an_empty_prompt(ckpt):
    for name in ("tokenizer.json", "vocab.json", "merges.txt"):
        (ckpt / name).unlink()
    _one_line(lambda: _load(ckpt), "tokenizer.json", "vocab.json", "merges.txt")


@pytest.mark.parametrize("content", ['{"model": 5}', "{}", '{"model": {"type": "BPE", "vocab": {}, "merges": []}}'],
                         ids=["model_5", "empty", "empty_vocab"])
def test_a_broken_tokenizer_json_is_one_line(ckpt, content):
    (ckpt / "tokenizer.json").write_text(content)
    _one_line(lambda: _load(ckpt), "tokenizer")


def test_a_tokenizer_without_chat_template_is_refused_at_load(ckpt):
    (ckpt / "tokenizer_config.json").unlink()
    _one_line(lambda: _load(ckpt), "chat template")


def _rewrite_shard(ckpt: Path, fn) -> str:
    path = ckpt / SHARD
    state = load_file(path)
    key = sorted(state)[0]
    fn(state, key)
    save_file(state, path, metadata={"format": "pt"})
    return key


@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_non_finite_weights_are_refused_at_load_naming_the_key(ckpt, value):
    def poison(state, key):
        state[key].view(-1)[3] = value

    key = _rewrite_shard(ckpt, poison)
    _one_line(lambda: _load(ckpt), key, "not finite")


def test_a_weight_past_bfloat16_range_is_refused_when_loaded_as_bfloat16(ckpt):
    from models.checkpoint import load_checkpoint

    def huge(state, key):
        state[key].view(-1)[0] = 3.4e38  # finite in float32, rounds to infinity in bfloat16

    key = _rewrite_shard(ckpt, huge)
    _load(ckpt)  # float32: fine
    _one_line(lambda: load_checkpoint(ckpt, CPU, torch.bfloat16), key)


def test_integer_weights_are_one_line_naming_the_dtype(ckpt):
    key = _rewrite_shard(ckpt, lambda s, k: s.update({k: s[k].to(torch.int32)}))
    _one_line(lambda: _load(ckpt), key, "int32")


def _deny(monkeypatch, target: Path) -> None:
    """Make `target` unreadable: chmod 000 as an ordinary user; as root (which reads anyway) the open is refused
    the way the kernel would refuse it."""
    if os.geteuid() != 0:
        target.chmod(0)  # the file can still be removed with its folder
        return
    real_open = builtins.open

    def refusing_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and Path(file).resolve() == target.resolve():
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing_open)
    monkeypatch.setattr(io, "open", refusing_open)


def test_an_unreadable_shard_is_called_unreadable_not_corrupt(ckpt, monkeypatch):
    _deny(monkeypatch, ckpt / SHARD)
    msg = _one_line(lambda: _load(ckpt), SHARD, "Permission denied")
    assert "corrupt" not in msg


def test_an_unreadable_config_is_one_line_naming_it(ckpt, monkeypatch):
    _deny(monkeypatch, ckpt / "config.json")
    _one_line(lambda: _load(ckpt), "config.json", "Permission denied")


def test_an_unreadable_folder_is_one_line_naming_it(ckpt, monkeypatch):
    import models.checkpoint as checkpoint_module

    def refuse(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(checkpoint_module, "is_adapter_dir", refuse)  # the first look inside the folder
    _one_line(lambda: _load(ckpt), str(ckpt), "Permission denied")


@pytest.mark.parametrize("failure", [MemoryError(), RuntimeError("[enforce fail at alloc_cpu.cpp:127] "
                                                                  "DefaultCPUAllocator: can't allocate memory")],
                         ids=["MemoryError", "torch_cpu_allocator"])
def test_running_out_of_memory_while_loading_stays_a_memory_error(ckpt, monkeypatch, failure):
    """`ulimit -v`: the CLI and the window have their own line for MemoryError; the loader must not hide it."""
    import models.checkpoint as checkpoint_module

    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(checkpoint_module, "safe_open", fail)
    with pytest.raises(MemoryError):
        _load(ckpt)


def test_the_cli_says_one_line_for_a_nan_weight(ckpt, capsys):
    from app.cli import build_parser, run_cli

    _rewrite_shard(ckpt, lambda s, k: s[k].view(-1).__setitem__(0, float("nan")))
    rc = run_cli(["reply", "--checkpoint", str(ckpt), "--text", "hi", "--max-text-tokens", "2"], build_parser())
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "not finite" in err[0], err


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32], ids=str)
def test_the_finite_check_is_exact_when_a_sum_overflows(dtype):
    from models.tensor_checks import is_finite

    big = torch.full((4096,), torch.finfo(dtype).max / 2, dtype=dtype)  # finite values whose sum is not
    assert is_finite(big)
    big[17] = float("nan")
    assert not is_finite(big)
    big[17], big[18] = float("inf"), float("-inf")
    assert not is_finite(big)
    assert is_finite(torch.zeros(0, dtype=dtype)) and is_finite(torch.arange(5))
