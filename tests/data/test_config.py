"""make-data: malformed configs and seed files give one-line errors naming the key; parser, WER and signal checks."""

from __future__ import annotations

import numpy as np
import pytest

from app.cli import build_parser, run_cli
from core.data.config import load_data_config
from core.data.config_io import ConfigError
from core.data.quality import clipped_ratio, silence_ratio, word_error_rate
from core.data.schema import Dialogue, Rejected, parse_generation
from core.data.seeds import draw_seed, load_seed_lists
from tests.data.helpers import SCRIPT

GOOD = "llm:\n  path: {d}\nunits:\n  tokenizer: {d}\n"


def _cli_error(tmp_path, text: str, capsys, name: str = "c.yaml") -> str:
    cfg = tmp_path / name
    cfg.write_text(text.format(d=tmp_path))
    code = run_cli(["make-data", "--config", str(cfg), "--out", str(tmp_path / "out")], build_parser())
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0 and err.startswith("error: "), err
    return err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD + "llm_batch: 3\n", "llm_batch: unknown key"),
        (GOOD + "  devce: cpu\n", "units.devce: unknown key"),
        (GOOD + "n_dialogues: many\n", "n_dialogues: must be an integer, got 'many'"),
        (GOOD + "n_dialogues: 0\n", "n_dialogues must be >= 1"),
        (GOOD + "filters:\n  max_wer: true\n", "filters.max_wer: must be a number"),
        (GOOD + "filters:\n  min_duration_s: 5\n  max_duration_s: 2\n", "min_duration_s < max_duration_s"),
        (GOOD + "speech:\n  user_voices: en-us\n", "speech.user_voices: must be a list"),
        (GOOD + "speech:\n  backend: coqui\n", "speech.backend: must be one of ['espeak', 'vits']"),
        (GOOD + "llm2: [\n", "line 6"),
        ("units:\n  tokenizer: x\n", "missing section 'llm'"),
        ("- a\n- b\n", "the top level must be a mapping"),
        (GOOD.replace("path: {d}", "path: ''"), "llm.path is required"),
        (GOOD + "speech:\n  user_voices: [en-us+nosuchvariant]\n", "no variant 'nosuchvariant'"),
    ],
)
def test_malformed_config_gives_one_line_error(tmp_path, capsys, text, expected):
    assert expected in _cli_error(tmp_path, text, capsys)


def test_json_config_and_missing_file(tmp_path, capsys):
    assert "line 1" in _cli_error(tmp_path, '{{"llm": {{"path": 3,}}}}', capsys, "c.json")
    code = run_cli(["make-data", "--config", str(tmp_path / "nope.yaml"), "--out", str(tmp_path)], build_parser())
    assert code == 2 and "cannot read config" in capsys.readouterr().err


def test_bad_seeds_file_names_the_key(tmp_path):
    seeds = tmp_path / "s.yaml"
    seeds.write_text("situations: [a]\nemotions: [sad, Sad]\npersonas: [p]\nstyles: [normal]\nreply_emotions: [calm]\n")
    with pytest.raises(ConfigError, match="'emotions' has duplicates"):
        load_seed_lists(seeds)
    seeds.write_text("situations: [a]\nemotions: [sad]\npersonas: []\nstyles: [n]\nreply_emotions: [c]\n")
    with pytest.raises(ConfigError, match="'personas' must be a non-empty list"):
        load_seed_lists(seeds)


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    (tmp_path / "llm").mkdir()
    cfg = tmp_path / "c.yaml"
    cfg.write_text("llm:\n  path: llm\nunits:\n  tokenizer: /abs/tok\n")
    config = load_data_config(cfg)
    assert config.llm.path == str(tmp_path / "llm") and config.units.tokenizer == "/abs/tok"


def test_seed_draw_is_per_index_and_stable():
    lists = load_seed_lists(None)
    a = [draw_seed(lists, ("v1", "v2"), 3, i) for i in range(20)]
    assert a[5] == draw_seed(lists, ("v1", "v2"), 3, 5)  # independent of how many were drawn
    assert len({(s.situation, s.emotion, s.persona) for s in a}) > 10
    assert draw_seed(lists, ("v1", "v2"), 4, 5) != a[5]


def test_parser_accepts_and_rejects_the_scripted_answers():
    lists = load_seed_lists(None)
    for raw, reason in SCRIPT:
        got = parse_generation(raw, lists)
        if reason is None:
            assert isinstance(got, Dialogue), (raw, got)
        else:
            assert isinstance(got, Rejected) and got.reason == reason, (raw, got)
    kept = parse_generation(SCRIPT[6][0], lists)
    assert kept.user_style == "fast"  # normalized to the seed list's spelling


def test_word_error_rate():
    assert word_error_rate("Hello, there world!", "hello there world") == 0.0
    assert word_error_rate("a b c d", "a x c") == 0.5  # one substitution, one deletion
    assert word_error_rate("a b", "a b c d") == 1.0  # two insertions
    assert word_error_rate("", "") == 0.0


def test_silence_and_clipping_measures():
    rate = 16_000
    t = np.arange(rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    half_silent = np.concatenate([tone[: rate // 2], np.zeros(rate // 2, np.float32)])
    assert silence_ratio(tone, rate, -45.0) == 0.0
    assert silence_ratio(half_silent, rate, -45.0) == pytest.approx(0.5, abs=0.03)
    assert clipped_ratio(tone) == 0.0
    assert clipped_ratio(np.clip(tone * 4, -1, 1)) > 0.5
