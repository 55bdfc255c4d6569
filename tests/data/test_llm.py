"""Dialogue writer on a tiny random Qwen3 (real tokenizer, safetensors): guided decoding yields the schema with
labels from the seed lists, one record's answer does not depend on its batch, free JSON from a random LM is dropped."""

from __future__ import annotations

import importlib.util
import json

import pytest

from core.data.config import LLMConfig
from core.data.llm import HFDialogueLM, load_dialogue_lm, speakable_piece
from core.data.schema import FIELDS, Rejected, parse_generation
from core.data.seeds import draw_seed, load_seed_lists
from models.errors import CheckpointError, UserError


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    from models.tiny_lm import make_tiny_causal_lm

    return make_tiny_causal_lm(tmp_path_factory.mktemp("tiny_lm"), seed=0)


@pytest.fixture(scope="module")
def lists():
    return load_seed_lists(None)


def test_guided_answers_follow_the_schema_and_do_not_depend_on_the_batch(tiny_lm, lists):
    lm = load_dialogue_lm(LLMConfig(path=str(tiny_lm), max_field_tokens=12), lists)
    assert isinstance(lm, HFDialogueLM)  # no vLLM / GPU here
    seeds = [draw_seed(lists, ("v",), 0, i) for i in range(4)]
    answers = lm.generate(seeds)
    assert lm.generate([seeds[2]]) == [answers[2]]
    assert len(set(answers)) == 4
    for raw in answers:
        obj = json.loads(raw)
        assert list(obj) == list(FIELDS)
        assert obj["user_emotion"] in lists.emotions and obj["user_style"] in lists.styles
        assert obj["assistant_emotion"] in lists.reply_emotions
        for key in ("user_text", "assistant_text"):
            assert obj[key].isascii() and '"' not in obj[key] and "\n" not in obj[key] and "<" not in obj[key]
    other_seed = [draw_seed(lists, ("v",), 1, 2)]
    assert lm.generate(other_seed) != [answers[2]]


def test_greedy_is_deterministic_and_json_mode_garbage_is_rejected(tiny_lm, lists):
    seeds = [draw_seed(lists, ("v",), 0, i) for i in range(3)]
    greedy = HFDialogueLM(LLMConfig(path=str(tiny_lm), temperature=0.0, max_field_tokens=8), lists)
    assert greedy.generate(seeds[:1]) == greedy.generate(seeds[:1])
    free = HFDialogueLM(LLMConfig(path=str(tiny_lm), mode="json", max_new_tokens=24), lists)
    for raw in free.generate(seeds):  # a random LM does not write the schema by itself
        assert isinstance(parse_generation(raw, lists), Rejected)


def test_speakable_pieces():
    assert speakable_piece(" hello,", "ascii") and speakable_piece('"', "ascii") and speakable_piece("\n", "ascii")
    assert not speakable_piece("caf\u00e9", "ascii") and speakable_piece("caf\u00e9", "printable")
    for bad in ("\ufffd", "<|", "{", "\u0007", "", "**"):
        assert not speakable_piece(bad, "printable"), bad


def test_load_errors_are_one_line(tmp_path, lists):
    with pytest.raises(CheckpointError, match="no config.json"):
        HFDialogueLM(LLMConfig(path=str(tmp_path)), lists)
    if importlib.util.find_spec("vllm") is None:
        with pytest.raises(UserError, match="vLLM is not installed"):
            load_dialogue_lm(LLMConfig(path=str(tmp_path), backend="vllm"), lists)
