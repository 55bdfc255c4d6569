"""Training jsonl records that are too deep or too long: one line naming the line, before anything big is read or
allocated (issue 31, findings 12 and 14)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from core.training.data import MAX_LINE_BYTES, DataError, load_dataset_file
from core.training.setup import load_training_set
from models.checkpoint import load_checkpoint
from tests.training.helpers import example_row, unit_string


def _write(folder, rows, name="d.jsonl"):
    path = folder / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def ckpt(tiny_checkpoint):
    import torch

    return load_checkpoint(tiny_checkpoint, torch.device("cpu"), torch.float32)


def test_deeply_nested_line_is_one_line_naming_it(tmp_path):
    path = _write(tmp_path, [example_row(0, None), '{"messages": ' + "[" * 200_000 + "]" * 200_000 + "}"])
    with pytest.raises(DataError, match=r"line 2: nested too deeply"):
        load_dataset_file(path)


def test_oversized_line_is_refused_before_it_is_parsed(tmp_path):
    row = example_row(0, None)
    row["meta"] = "x" * (MAX_LINE_BYTES + 10)
    path = _write(tmp_path, [example_row(0, None), example_row(1, None), row])
    with pytest.raises(DataError, match=r"line 3: longer than 16 MiB"):
        load_dataset_file(path)


def test_binary_file_is_one_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(json.dumps(example_row(0, None)).encode() + b"\n" + bytes(range(128, 256)) * 4 + b"\n")
    with pytest.raises(DataError, match=r"line 2: not UTF-8"):
        load_dataset_file(path)


def test_unit_id_with_thousands_of_digits_is_one_line(tmp_path):
    row = example_row(0, None)
    row["messages"][1]["content"][0]["speech_units"] = "<|audio_" + "9" * 5000 + "|>"
    with pytest.raises(DataError, match="speech_units must be"):
        load_dataset_file(_write(tmp_path, [row]))


def test_too_many_units_for_the_tts_lm_is_one_line(tmp_path, ckpt):
    limit = ckpt.config.tts_lm.max_position_embeddings
    row = example_row(0, None)
    row["messages"][1]["content"][0]["speech_units"] = unit_string([1] * (limit + 5))
    with pytest.raises(DataError, match=rf"line 2: {limit + 5} speech units"):
        load_training_set(ckpt, _write(tmp_path, [example_row(1, None), row]))


def test_too_many_text_tokens_for_the_llm_is_one_line(tmp_path, ckpt):
    row = example_row(0, None)
    row["messages"][0]["content"][0]["text"] = "hello there " * ckpt.config.llm.max_position_embeddings
    with pytest.raises(DataError, match=r"line 1: \d+ text tokens; the LLM takes at most"):
        load_training_set(ckpt, _write(tmp_path, [row]))


def test_overlong_clip_is_refused_from_its_header_before_it_is_read(tmp_path, ckpt, monkeypatch):
    sf.write(tmp_path / "long.wav", np.full(8000 * 700, 0.1, dtype=np.float32), 8000, subtype="PCM_16")  # 700 s
    row = example_row(0, "long.wav")

    def never(*a, **k):
        raise AssertionError("the clip was read")

    monkeypatch.setattr("core.training.encode.read_training_audio", never)
    with pytest.raises(DataError, match=r"line 1: the clip .*long.wav is 700 s long; the limit is 600 s"):
        load_training_set(ckpt, _write(tmp_path, [row]))
