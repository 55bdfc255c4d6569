"""The training jsonl loader: the reference's token layout, skipped clips, and one-line errors naming the line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from transformers import AutoTokenizer

from core.training.data import DataError, load_dataset_file
from core.training.encode import IGNORE_INDEX, ExampleEncoder, build_training_set
from models.special_tokens import AUDIO_TOKEN_INDEX, TTS_END, TTS_START
from tests.training.helpers import example_row, unit_string, write_dataset


def _write(tmp_path, rows, name="d.jsonl"):
    p = tmp_path / name
    p.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return p


def test_relative_and_absolute_audio_paths(tmp_path):
    path = write_dataset(tmp_path / "a", n=2, audio_every=1)
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    rows[1]["messages"][0]["content"][0]["audio"] = str(tmp_path / "a" / "clips" / "c1.wav")  # absolute
    ds = load_dataset_file(_write(tmp_path / "a", rows, "mixed.jsonl"))
    assert [e.audio_paths[0].name for e in ds.examples] == ["c0.wav", "c1.wav"]
    assert all(p.is_absolute() and p.is_file() for e in ds.examples for p in e.audio_paths)


def test_token_layout_matches_reference_rules(tmp_path, tiny_checkpoint):
    tok = AutoTokenizer.from_pretrained(str(tiny_checkpoint))
    tts_tok = AutoTokenizer.from_pretrained(str(tiny_checkpoint / "tts"))
    ds = load_dataset_file(write_dataset(tmp_path, n=2, audio_every=2))
    enc = ExampleEncoder(tok, tts_tok)
    ex = enc.encode(ds.examples[0])
    ids, types, labels = map(np.array, (ex.input_ids, ex.token_types, ex.labels))
    assert (ids == AUDIO_TOKEN_INDEX).sum() == 1 and len(ex.audio) == 1
    span = ids[types == 1].tolist()
    assert tok.decode(span) == f"{TTS_START}I am here for you.{TTS_END}"
    assert labels[types == 1].tolist() == span  # the speech text is learned
    learned = tok.decode(labels[labels != IGNORE_INDEX].tolist())
    assert learned == f"{TTS_START}I am here for you.{TTS_END}<|im_end|>\n"  # assistant only, incl. its end
    prefix = tok.decode(ids[: list(ids).index(AUDIO_TOKEN_INDEX)].tolist())
    assert prefix == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                      "<|im_audio_start|>")
    assert "<|im_start|>assistant\n<think></think><|im_tts_start|>" in tok.decode(ids[ids >= 0].tolist())
    # units: the TTS tokenizer's ids of the unit string, then EOS
    raw_units = ds.examples[0].messages[1].items[0].units
    assert list(ex.units[0]) == tts_tok.encode(unit_string(raw_units), add_special_tokens=False) + [
        tts_tok.eos_token_id]


def test_unreadable_and_short_audio_are_skipped_and_counted(tmp_path, tiny_checkpoint):
    path = write_dataset(tmp_path, n=4, audio_every=1)
    (tmp_path / "clips" / "c1.wav").write_bytes(b"RIFF not really a wav")
    sf.write(tmp_path / "clips" / "c2.wav", np.full(4000, 0.1, np.float32), 16000)  # 0.25 s
    tok = AutoTokenizer.from_pretrained(str(tiny_checkpoint))
    tts_tok = AutoTokenizer.from_pretrained(str(tiny_checkpoint / "tts"))
    ts = build_training_set(load_dataset_file(path), ExampleEncoder(tok, tts_tok))
    assert [e.line_no for e in ts.examples] == [1, 4]
    assert ts.skipped_unreadable == [2] and ts.skipped_short == [3] and ts.n_skipped == 2


def _err(tmp_path, rows) -> str:
    with pytest.raises(DataError) as info:
        load_dataset_file(_write(tmp_path, rows))
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_bad_input_one_line_errors_name_the_line(tmp_path):
    good = example_row(0, None)
    missing = example_row(1, "clips/nope.wav")
    msg = _err(tmp_path, [good, missing])
    assert "line 2" in msg and "nope.wav" in msg and "not found" in msg

    oov = example_row(2, None)
    oov["messages"][1]["content"][0]["speech_units"] = unit_string([1, 2, 16384])
    msg = _err(tmp_path, [good, good, oov])
    assert "line 3" in msg and "16384" in msg and "outside the vocabulary" in msg

    junk = example_row(2, None)
    junk["messages"][1]["content"][0]["speech_units"] = "<|audio_1|>hello"
    assert "line 1" in _err(tmp_path, [junk])

    msg = _err(tmp_path, [good, {"conversation": good["messages"]}])
    assert "line 2" in msg and "wrong columns" in msg and "messages" in msg
    assert "line 1" in _err(tmp_path, [{"messages": good["messages"], "label": 3}])
    bad_item = example_row(0, None)
    bad_item["messages"][0]["content"][0]["speach_units"] = ""
    assert "line 1" in _err(tmp_path, [bad_item])
    assert "line 2" in _err(tmp_path, [good, "{not json"])

    (tmp_path / "empty.jsonl").write_text("\n  \n")
    with pytest.raises(DataError, match="empty file"):
        load_dataset_file(tmp_path / "empty.jsonl")
