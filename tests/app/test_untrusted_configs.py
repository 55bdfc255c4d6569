"""Untrusted config numbers and YAML (issue 19, finding 10 and "validated config numbers"): config.yaml aliases
and cyclic !ref, layer/head counts, infinities and nulls in config.yaml / config.json / generation_config.json:
each is refused at load with one line naming the file and key (CheckpointError), never a traceback."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from models.decoder_config import load_decoder_config
from models.errors import CheckpointError

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
) + "flow: *i\n"


@pytest.fixture
def decoder_yaml(tiny_decoder, tmp_path):
    path = tmp_path / "config.yaml"
    shutil.copy(tiny_decoder / "config.yaml", path)
    return path


def _refused(path, *fragments) -> str:
    with pytest.raises(CheckpointError) as info:
        load_decoder_config(path)
    msg = str(info.value)
    assert "\n" not in msg and all(f in msg for f in fragments), msg
    return msg


def test_billion_laughs_is_refused_fast(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(LAUGHS)
    assert len(LAUGHS) < 1200
    t0 = time.monotonic()
    _refused(path, "expands to over")
    assert time.monotonic() - t0 < 5.0


def test_cyclic_ref_and_self_alias_are_refused(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("a: !ref <b>\nb: !ref <a>\nflow: !ref <a>\n")
    _refused(path, "cycle", "b -> a -> b")
    path.write_text("x: &x [1, *x]\nflow: *x\n")
    _refused(path, "deeper than")


@pytest.mark.parametrize("old,new,key", [
    ("attention_heads: 4", "attention_heads: 0", "flow.encoder.attention_heads"),
    ("attention_heads: 4", "attention_heads: .inf", "attention_heads"),
    ("num_blocks: 2", "num_blocks: 100000", "flow.encoder.num_blocks"),
    ("linear_units: 128", "linear_units: -5", "flow.encoder.linear_units"),
    ("output_size: 64", "output_size: null", "output_size"),
])
def test_bad_decoder_numbers_name_the_key(decoder_yaml, old, new, key):
    text = decoder_yaml.read_text()
    assert old in text
    decoder_yaml.write_text(text.replace(old, new, 1))
    _refused(decoder_yaml, key)


@pytest.fixture
def checkpoint_copy(tiny_checkpoint, tmp_path):
    out = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, out)
    return out


def _edit_json(path, fn) -> None:
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("edit,key", [
    (lambda d: d.update(adapter_inner_dim=None), "adapter_inner_dim"),
    (lambda d: d["llm_config"].update(num_hidden_layers=0), "llm_config.num_hidden_layers"),
    (lambda d: d["tts_lm_config"].update(num_attention_heads=10**9), "tts_lm_config.num_attention_heads"),
    (lambda d: d["llm_config"].update(num_key_value_heads=3), "num_key_value_heads"),
    (lambda d: d["audio_encoder_config"].update(encoder_attention_heads=0), "encoder_attention_heads"),
    (lambda d: d["llm_config"].update(vocab_size=-1), "llm_config.vocab_size"),
])
def test_bad_config_json_numbers_name_the_key(checkpoint_copy, edit, key):
    from models.config import OpenS2SConfig

    _edit_json(checkpoint_copy / "config.json", edit)
    with pytest.raises(CheckpointError, match=key.replace(".", r"\.")):
        OpenS2SConfig.from_dir(checkpoint_copy)


@pytest.mark.parametrize("sub,edit,key", [
    ("", {"max_new_tokens": -3}, "max_new_tokens"),
    ("", {"repetition_penalty": 0.0}, "repetition_penalty"),
    ("", {"temperature": float("inf")}, "temperature"),
    ("tts", {"max_new_tokens": 10**12}, "max_new_tokens"),
    ("tts", {"top_k": -1}, "top_k"),
])
def test_bad_generation_config_numbers_name_the_key(checkpoint_copy, sub, edit, key):
    from models.checkpoint import _load_generation_config

    path = checkpoint_copy / sub if sub else checkpoint_copy
    _edit_json(path / "generation_config.json", lambda d: d.update(edit))
    with pytest.raises(CheckpointError, match=key):
        _load_generation_config(path)


def test_the_cli_prints_one_line_for_a_cyclic_ref(tiny_decoder, tmp_path, capsys):
    from app.cli import build_parser, run_cli

    dec = tmp_path / "dec"
    shutil.copytree(tiny_decoder, dec)
    (dec / "config.yaml").write_text("a: !ref <a>\nflow: !ref <a>\nhift: 1\n")
    units = tmp_path / "u.json"
    units.write_text('{"units": [1, 2, 3]}')
    rc = run_cli(["vocode", "--decoder", str(dec), "--units", str(units), "--out", str(tmp_path / "o.wav")],
                 build_parser())
    err = capsys.readouterr().err
    assert rc == 2 and "cycle a -> a" in err and "Traceback" not in err


# -- finding 14: a system prompt longer than the context names itself -----------------------------------------------
def test_a_system_prompt_longer_than_the_context_says_so(tiny_runner):
    from core.lm.conversation import Conversation
    from models.errors import UserError

    context = tiny_runner.ckpt.config.llm.max_position_embeddings
    conv = Conversation("please " * context)
    conv.add_user_text("Hi")
    with pytest.raises(UserError, match="system prompt alone needs .* shorten the system prompt"):
        tiny_runner.reply(conv)
    conv.system_prompt = "Be brief."
    assert tiny_runner.reply(conv).plan.n_positions < context  # a normal prompt still plans
