"""Decoder folders (config.yaml, flow.pt, hift.pt) that are bad: each is refused when `vocode` loads it, with one
line naming the file (or the key), or vocodes where the input is actually fine."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path

from testing.fuzz import OK, Case

DEEP = 100_000


class _Payload:
    """Unpickling this would run `touch RAN` (it must never run)."""

    def __reduce__(self):
        import os

        return os.system, ("touch RAN",)


def vocode(kit, dec: Path) -> list[str]:
    units = kit.write("units.json", json.dumps(list(range(1, 17))))
    return ["vocode", "--decoder", str(dec), "--units", str(units), "--out", str(kit.folder / "out.wav")]


def yaml_edit(edit: Callable[[str], str]) -> Callable:
    def make(kit) -> list[str]:
        dec = kit.decoder()
        path = dec / "config.yaml"
        path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
        return vocode(kit, dec)
    return make


def yaml_is(content: str | bytes) -> Callable:
    def make(kit) -> list[str]:
        dec = kit.decoder()
        path = dec / "config.yaml"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return vocode(kit, dec)
    return make


def weights_edit(name: str, edit: Callable[[dict], object]) -> Callable:
    """`edit(state)` on the {name: tensor} dict of flow.pt / hift.pt, saved back with torch.save."""
    def make(kit) -> list[str]:
        import torch

        dec = kit.decoder()
        state = torch.load(dec / name, map_location="cpu", weights_only=True)
        edit(state)
        torch.save(state, dec / name)
        return vocode(kit, dec)
    return make


def weights_bytes(name: str, make_bytes: Callable[[bytes], bytes]) -> Callable:
    def make(kit) -> list[str]:
        dec = kit.decoder()
        path = dec / name
        path.write_bytes(make_bytes(path.read_bytes()))
        return vocode(kit, dec)
    return make


def first_float(state: dict, value: float) -> None:
    key = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
    state[key] = state[key].clone()
    state[key].view(-1)[0] = value


def _pickle_payload(_: bytes) -> bytes:
    return pickle.dumps({"weight": _Payload()})


def _torch_payload(_: bytes) -> bytes:
    import io

    import torch

    buf = io.BytesIO()
    torch.save({"weight": _Payload()}, buf)
    return buf.getvalue()


def wav_written(folder: Path, outcome) -> str | None:
    return None if (folder / "out.wav").is_file() else "no out.wav"


def _saved(obj) -> bytes:
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _missing(name: str) -> Callable:
    def make(kit) -> list[str]:
        dec = kit.decoder()
        (dec / name).unlink()
        return vocode(kit, dec)
    return make



DEEP_LIST = "[" * DEEP + "]" * DEEP
Y, W = "decoder YAML", "decoder weights"

CASES = [
    Case(Y, "nested 100 000 deep (flow section)", yaml_edit(lambda t: t.replace("flow: ", "flow_old: ", 1)
                                                            + "\nflow: " + DEEP_LIST + "\n"), says=("config.yaml",)),
    Case(Y, "the whole file a list nested 100 000 deep", yaml_is(DEEP_LIST), says=("config.yaml",)),
    Case(Y, "a mapping nested 100 000 deep", yaml_is("a: {" * 1000 + "}" * 1000), says=("config.yaml",)),
    Case(Y, "binary", yaml_is(bytes(range(256)) * 4), says=("config.yaml",)),
    Case(Y, "empty", yaml_is(""), says=("config.yaml",)),
    Case(Y, "a list", yaml_is("- 1\n- 2\n"), says=("config.yaml",)),
    Case(Y, "!!python/object tag", yaml_is("flow: !!python/object/apply:os.system ['touch RAN']\n"),
         says=("config.yaml",)),
    Case(Y, "num_blocks 1e9", yaml_edit(lambda t: t.replace("num_blocks: 2", "num_blocks: 1000000000", 1)),
         says=("num_blocks",)),
    Case(Y, "attention_heads .nan", yaml_edit(lambda t: t.replace("attention_heads: 4", "attention_heads: .nan", 1)),
         says=("attention_heads",)),
    Case(Y, "output_size as str", yaml_edit(lambda t: t.replace("output_size: 64", "output_size: 'x'", 1)),
         says=("output_size",)),
    Case(Y, "unchanged (control)", yaml_edit(lambda t: t), expect=OK, check=wav_written),
    Case(W, "flow.pt holds a NaN", weights_edit("flow.pt", lambda s: first_float(s, float("nan"))),
         says=("flow.pt",)),
    Case(W, "hift.pt holds an Infinity", weights_edit("hift.pt", lambda s: first_float(s, float("inf"))),
         says=("hift.pt",)),
    Case(W, "flow.pt integer tensors", weights_edit("flow.pt", lambda s: s.update(
        {k: v.to(__import__("torch").int32) for k, v in s.items()})), says=("flow.pt",)),
    Case(W, "flow.pt float16 (converted)", weights_edit("flow.pt", lambda s: s.update(
        {k: v.half() if v.is_floating_point() else v for k, v in s.items()})), expect=OK, check=wav_written),
    Case(W, "flow.pt a key missing", weights_edit("flow.pt", lambda s: s.pop(next(iter(s)))), says=("flow.pt",)),
    Case(W, "flow.pt a wrong shape", weights_edit("flow.pt", lambda s: s.update(
        {next(iter(s)): __import__("torch").zeros(3, 3)})), says=("flow.pt",)),
    Case(W, "flow.pt a plain pickle with a payload", weights_bytes("flow.pt", _pickle_payload),
         says=("flow.pt",)),
    Case(W, "hift.pt a torch.save with a payload", weights_bytes("hift.pt", _torch_payload), says=("hift.pt",)),
    Case(W, "flow.pt truncated", weights_bytes("flow.pt", lambda b: b[: len(b) // 2]), says=("flow.pt",)),
    Case(W, "flow.pt empty", weights_bytes("flow.pt", lambda b: b""), says=("flow.pt",)),
    Case(W, "hift.pt random bytes", weights_bytes("hift.pt", lambda b: bytes(range(256)) * 64), says=("hift.pt",)),
    Case(W, "flow.pt a list of tensors", weights_bytes("flow.pt", lambda b: _saved([1, 2])), says=("flow.pt",)),
    Case(W, "flow.pt missing", _missing("flow.pt"), says=("flow.pt",)),
]

