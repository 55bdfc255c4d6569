"""Bad decoder folders (issue 31, findings 13 and 15): a NaN flow.pt gave a WAV of constant -1.0 with exit 0;
integer tensors, pickled payloads and binary YAML gave tracebacks or noise. Each is one CheckpointError line."""

from __future__ import annotations

import os
import pickle
import shutil

import pytest
import torch

from models.decoder_checkpoint import load_decoder
from models.errors import CheckpointError


@pytest.fixture
def decoder(tiny_decoder, tmp_path):
    out = tmp_path / "dec"
    shutil.copytree(tiny_decoder, out)
    return out


def _refused(path, *fragments) -> str:
    with pytest.raises(CheckpointError) as info:
        load_decoder(path)
    msg = str(info.value)
    assert "\n" not in msg and all(f in msg for f in fragments), msg
    return msg


def _edit(path, fn) -> str:
    state = torch.load(path, map_location="cpu", weights_only=True)
    key = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
    fn(state, key)
    torch.save(state, path)
    return key


@pytest.mark.parametrize("name,value", [("flow.pt", float("nan")), ("hift.pt", float("inf"))])
def test_non_finite_decoder_weights_are_refused_naming_file_and_key(decoder, name, value):
    key = _edit(decoder / name, lambda s, k: s[k].view(-1).__setitem__(0, value))
    _refused(decoder, name, key.split(".")[0], "not finite")


def test_integer_decoder_weights_are_one_line_naming_the_dtype(decoder):
    _edit(decoder / "flow.pt", lambda s, k: s.update({k: s[k].to(torch.int32)}))
    _refused(decoder, "flow.pt", "int32")


class _Payload:
    def __reduce__(self):
        return os.system, ("touch RAN",)


def test_a_pickled_payload_is_refused_quietly(decoder, tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    (decoder / "flow.pt").write_bytes(pickle.dumps({"w": _Payload()}))
    with _no_warnings():
        _refused(decoder, "flow.pt", "weights_only")
    assert not (tmp_path / "RAN").exists()
    assert capfd.readouterr().err == ""


class _no_warnings:
    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings(record=True)
        self.caught = self._ctx.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)
        assert not self.caught, [str(w.message)[:80] for w in self.caught]


def test_a_binary_config_yaml_is_one_line(decoder):
    (decoder / "config.yaml").write_bytes(bytes(range(256)) * 4)
    _refused(decoder, "config.yaml")


def test_an_unreadable_decoder_folder_is_one_line_naming_it(decoder, monkeypatch):
    import models.decoder_checkpoint as module

    def refuse(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(module, "load_decoder_config", refuse)
    _refused(decoder, "config.yaml", "Permission denied")
