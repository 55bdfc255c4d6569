"""`train`: bad training jsonl files and bad `--out` folders. Each ends in one line (exit 2), or in a trained
checkpoint where the input is acceptable."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

from testing.fuzz import OK, Case
from testing.tiny_dataset import RowSpec, example_row, write_dataset

QUICK = ["--stage", "bridge", "--max-steps", "1", "--device", "cpu", "--no-progress"]


def _row(kit, i: int = 0, audio_s: float = 0.0) -> dict:
    return example_row(i, RowSpec(audio_s=audio_s, n_units=6), kit.folder)


def _train(kit, data: Path, out: Path | None = None, *extra: str) -> list[str]:
    return ["train", "--checkpoint", str(kit.checkpoint()), "--data", str(data),
            "--out", str(out or kit.folder / "out"), *QUICK, *extra]


def _jsonl(kit, lines: list[str | dict | bytes], name: str = "d.jsonl") -> Path:
    parts = [x if isinstance(x, bytes) else (x if isinstance(x, str) else json.dumps(x)).encode() for x in lines]
    return kit.write(name, b"".join(p + b"\n" for p in parts))


def _with(kit, edit) -> Path:
    """One good row, then a second one changed by `edit(row)`: the error must name line 2."""
    bad = _row(kit, 1)
    edit(bad)
    return _jsonl(kit, [_row(kit, 0), bad])


def _set(path: tuple, value):
    def edit(row):
        target = row
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


def _nan(kit, path: tuple, value=None) -> Path:
    """Line 2 with a bare NaN (Python's json reads it) at `path`."""
    bad = _row(kit, 1)
    _set(path, "NAN" if value is None else value)(bad)
    return _jsonl(kit, [_row(kit, 0), json.dumps(bad).replace('"NAN"', "NaN")])


def _long_clip(kit) -> Path:
    sf.write(kit.folder / "long.wav", np.full(8000 * 650, 0.1, dtype=np.float32), 8000, subtype="PCM_16")
    row = _row(kit, 1)
    row["messages"][0]["content"] = [{"text": "", "audio": "long.wav", "speech_units": "", "spk_emb": ""}]
    return _jsonl(kit, [_row(kit, 0), row])


def _folder(kit) -> Path:
    (kit.folder / "a_folder").mkdir()
    return kit.folder / "a_folder"


def _trained(folder: Path, outcome) -> str | None:
    out = folder / "out"
    return None if (out / "model.safetensors").is_file() and (out / "config.json").is_file() else "no model written"


def _same_as_checkpoint(kit) -> list[str]:
    ck = kit.checkpoint("ck")
    return ["train", "--checkpoint", str(ck), "--data", str(write_dataset(kit.folder / "data", n=2)), "--out",
            str(ck), *QUICK]


def _inside_checkpoint(kit) -> list[str]:
    ck = kit.checkpoint("ck")
    return ["train", "--checkpoint", str(ck), "--data", str(write_dataset(kit.folder / "data", n=2)), "--out",
            str(ck / "trained"), *QUICK]


def _foreign_model(kit) -> list[str]:
    return _train(kit, write_dataset(kit.folder / "data", n=2), kit.checkpoint("downloaded"))


def _earlier_states(kit) -> list[str]:
    out = kit.folder / "out"
    (out / "checkpoints" / "step-3").mkdir(parents=True)
    (out / "checkpoints" / "step-3" / "trainer_state.json").write_text('{"step": 3}')
    return _train(kit, write_dataset(kit.folder / "data", n=2), out)


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def _pickled_optimizer(kit) -> list[str]:
    data = write_dataset(kit.folder / "data", n=2)
    step = kit.folder / "out" / "checkpoints" / "step-1"
    step.mkdir(parents=True)
    (step / "trainer_state.json").write_text(json.dumps({
        "step": 1, "num_processes": 1, "stage": "bridge", "seed": 1, "batch_size": 1, "grad_accum": 1,
        "data": str(data.resolve())}))
    shutil.copy(kit.write("t.pkl", pickle.dumps({"state": _Payload()})), step / "optimizer.pt")
    (step / "trainable.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    return [*_train(kit, data, kit.folder / "out"), "--max-steps", "2", "--resume", "auto"]


def _nonempty_out(kit) -> list[str]:
    kit.write("out/notes.txt", "mine")
    return _train(kit, write_dataset(kit.folder / "data", n=2))


def _kept_notes(folder: Path, outcome) -> str | None:
    if (folder / "out" / "notes.txt").read_text() != "mine":
        return "the user's file in --out was changed"
    return None if "not empty" in outcome.stderr else "no warning before reusing a non-empty --out"


J = "training jsonl"
CASES = [
    Case(J, "deep nesting", lambda kit: _train(kit, _jsonl(kit, ['{"messages": ' + "[" * 100_000 + "]" * 100_000
                                                                 + "}"])), says=("line 1", "nested")),
    Case(J, "oversized record (20 MB line)", lambda kit: _train(kit, _with(kit, _set(("meta",), "x" * 20_000_000))),
         says=("line 2", "MiB")),
    Case(J, "100k speech units in one item", lambda kit: _train(kit, _with(kit, _set(
        ("messages", 1, "content", 0, "speech_units"), "<|audio_1|>" * 100_000))), says=("line 2", "speech units")),
    Case(J, "clip of 650 s", lambda kit: _train(kit, _long_clip(kit)), says=("line 2", "650 s")),
    Case(J, "binary file", lambda kit: _train(kit, kit.write("d.jsonl", bytes(range(256)) * 64)), says=("line 1",)),
    Case(J, "binary file, not UTF-8", lambda kit: _train(kit, kit.write("d.jsonl", bytes(range(128, 256)) * 64)),
         says=("line 1", "UTF-8")),
    Case(J, "/dev/zero", lambda kit: _train(kit, Path("/dev/zero")), says=("regular file",)),
    Case(J, "a folder", lambda kit: _train(kit, _folder(kit)), says=("regular file",)),
    Case(J, "empty file", lambda kit: _train(kit, kit.write("d.jsonl", "")), says=("empty",)),
    Case(J, "not JSON", lambda kit: _train(kit, _jsonl(kit, [_row(kit), "{messages: oops"])), says=("line 2",)),
    Case(J, "a JSON list", lambda kit: _train(kit, _jsonl(kit, ["[1, 2]"])), says=("line 1",)),
    Case(J, "messages is a string", lambda kit: _train(kit, _with(kit, _set(("messages",), "hi"))), says=("line 2",)),
    Case(J, "role is a list", lambda kit: _train(kit, _with(kit, _set(("messages", 0, "role"), ["user"]))),
         says=("line 2", "role")),
    Case(J, "text is a number", lambda kit: _train(kit, _with(kit, _set(("messages", 0, "content", 0, "text"), 5))),
         says=("line 2", "text")),
    Case(J, "text is NaN", lambda kit: _train(kit, _nan(kit, ("messages", 0, "content", 0, "text"))),
         says=("line 2", "text")),
    Case(J, "speech units hold NaN", lambda kit: _train(kit, _nan(kit, ("messages", 1, "content", 0, "speech_units"),
                                                                 [1, "NAN"])), says=("line 2", "speech_units")),
    Case(J, "unit id with 5000 digits", lambda kit: _train(kit, _with(kit, _set(
        ("messages", 1, "content", 0, "speech_units"), "<|audio_" + "9" * 5000 + "|>"))),
        says=("line 2", "speech_units")),
    Case(J, "unit outside the codebook", lambda kit: _train(kit, _with(kit, _set(
        ("messages", 1, "content", 0, "speech_units"), "<|audio_99999999|>"))), says=("line 2", "outside")),
    Case(J, "missing audio file", lambda kit: _train(kit, _with(kit, _set(
        ("messages", 0, "content", 0), {"audio": "nowhere.wav"}))), says=("line 2", "nowhere.wav")),
    Case(J, "audio path is a number", lambda kit: _train(kit, _with(kit, _set(
        ("messages", 0, "content", 0), {"audio": 7}))), says=("line 2", "audio")),
    Case(J, "unknown column", lambda kit: _train(kit, _with(kit, _set(("extra",), 1))), says=("line 2", "extra")),
    Case(J, "no assistant turn", lambda kit: _train(kit, _with(kit, lambda r: r["messages"].pop())),
         says=("line 2", "assistant")),
    Case(J, "good file with a clip and a blank line", lambda kit: _train(
        kit, _jsonl(kit, [_row(kit, 0, audio_s=1.0), "", _row(kit, 1)]), kit.folder / "out"), expect=OK,
        check=_trained),
    Case("train --out", "same as --checkpoint", _same_as_checkpoint, says=("same as --checkpoint",)),
    Case("train --out", "inside --checkpoint", _inside_checkpoint, says=("inside --checkpoint",)),
    Case("train --out", "contains --data", lambda kit: _train(kit, write_dataset(kit.folder / "data", n=2),
                                                              kit.folder), says=("contains",)),
    Case("train --out", "a file", lambda kit: _train(kit, write_dataset(kit.folder / "data", n=2),
                                                     kit.write("out", "x")), says=("is a file",)),
    Case("train --out", "a checkpoint train did not write", _foreign_model, says=("did not write",)),
    Case("train --out", "holds an earlier run's step folders", _earlier_states, says=("--resume auto",)),
    Case("train --out", "resume from a pickled optimizer", _pickled_optimizer, says=("step-1", "pickled"),
         check=None),
    Case("train --out", "not empty (a file of the user's)", _nonempty_out, expect=OK, check=_kept_notes),
]
