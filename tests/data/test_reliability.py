"""make-data under bad input and interruption (issue 31): bounded counts and finite floats named by key, configs
and seeds files that are deep, binary or devices refused in one line, --out never over an input, other files in
--out never deleted, and Ctrl-C says what was kept and the command that resumes."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from app.cli import build_parser, run_cli
from core.data.config import load_data_config
from core.data.config_io import ConfigError
from core.data.seeds import load_seed_lists
from core.data.store import Store

GOOD = "llm:\n  path: {d}/llm\nunits:\n  tokenizer: {d}/tok\n"


def _config(tmp_path: Path, extra: str = "", llm: str = "") -> Path:
    for name in ("llm", "tok"):
        (tmp_path / name).mkdir(exist_ok=True)
    text = GOOD.format(d=tmp_path).replace("llm:\n", "llm:\n" + llm, 1) + extra
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def _cli(capsys, config: Path | str, out: Path) -> tuple[int, str]:
    code = run_cli(["make-data", "--config", str(config), "--out", str(out), "--inline", "--no-progress"],
                   build_parser())
    return code, capsys.readouterr().err.strip()


def _one_line(code: int, err: str) -> str:
    assert code == 2 and err.startswith("error: ") and "\n" not in err, (code, err)
    return err


@pytest.mark.parametrize(
    ("extra", "llm", "key"),
    [
        ("n_dialogues: 1000000000000000000000000000000\n", "", "n_dialogues"),
        ("n_dialogues: 2000000\n", "", "n_dialogues"),
        ("seed: 18446744073709551616\n", "", "seed"),
        ("", "  batch_size: 1000000000\n", "llm.batch_size"),
        ("", "  max_new_tokens: 1000000000000\n", "llm.max_new_tokens"),
        ("speech:\n  batch_size: 1000000000\n", "", "speech.batch_size"),
        ("run:\n  speech_actors: 100000\n", "", "run.speech_actors"),
    ],
    ids=["n_dialogues-1e30", "n_dialogues-2e6", "seed-2**64", "llm.batch_size", "llm.max_new_tokens",
         "speech.batch_size", "run.speech_actors"],
)
def test_counts_are_bounded_with_one_line_naming_the_key(tmp_path, capsys, extra, llm, key):
    started = time.monotonic()
    err = _one_line(*_cli(capsys, _config(tmp_path, extra, llm), tmp_path / "out"))
    assert key in err and time.monotonic() - started < 5
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("extra", "llm", "key"),
    [
        ("", "  temperature: .nan\n", "llm.temperature"),
        ("", "  temperature: 1.0e+9\n", "llm.temperature"),
        ("", "  repetition_penalty: .nan\n", "llm.repetition_penalty"),
        ("filters:\n  max_wer: .nan\n", "", "filters.max_wer"),
        ("filters:\n  max_wer: .inf\n", "", "filters.max_wer"),
        ("filters:\n  silence_dbfs: .nan\n", "", "filters.silence_dbfs"),
        ("filters:\n  max_duration_s: .inf\n", "", "filters.max_duration_s"),
        ("run:\n  cpus_per_actor: .inf\n", "", "run.cpus_per_actor"),
    ],
    ids=["temperature-nan", "temperature-1e9", "repetition_penalty-nan", "max_wer-nan", "max_wer-inf",
         "silence_dbfs-nan", "max_duration_s-inf", "cpus_per_actor-inf"],
)
def test_non_finite_or_out_of_range_floats_name_the_key(tmp_path, extra, llm, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_data_config(_config(tmp_path, extra, llm))


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("a: " + "[" * 50_000 + "]" * 50_000 + "\n", "nested"),
        ("a: " + "{b: " * 20_000 + "}" * 20_000 + "\n", "nested"),
        (bytes(range(256)), "not UTF-8"),
        ("seed: " + "9" * 5000 + "\n", "too long"),
        ("seed: 2020-13-45\n", "cannot be read"),
        ("# " + "x" * (2 * 1024 * 1024) + "\n", "too large"),
    ],
    ids=["deep-lists", "deep-mappings", "binary", "5000-digits", "bad-date", "2MB"],
)
def test_deep_binary_or_huge_configs_are_one_line(tmp_path, capsys, content, says):
    path = tmp_path / "c.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    assert says in _one_line(*_cli(capsys, path, tmp_path / "out"))


def test_deep_json_config_is_one_line(tmp_path, capsys):
    path = tmp_path / "c.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert "nested" in _one_line(*_cli(capsys, path, tmp_path / "out"))


@pytest.mark.parametrize("target", ["/dev/zero", "folder", "deep"])
def test_a_seeds_file_that_is_a_device_folder_or_deep_is_one_line_at_once(tmp_path, target):
    path = {"/dev/zero": Path("/dev/zero"), "folder": tmp_path}.get(target)
    if target == "deep":
        path = tmp_path / "s.yaml"
        path.write_text("[" * 50_000 + "]" * 50_000)
    started = time.monotonic()
    with pytest.raises(ConfigError, match="not a regular file|is a folder|nested") as info:
        load_seed_lists(path)
    assert "\n" not in str(info.value) and time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("where", "says"),
    [("llm", "is the same as llm.path"), ("llm/out", "lies inside llm.path"), ("c.yaml", "--config"),
     (".", "contains --config")],
    ids=["llm.path", "inside-llm.path", "the-config", "holds-the-config"],
)
def test_out_over_an_input_is_refused_and_the_input_kept(tmp_path, capsys, where, says):
    config = _config(tmp_path)
    before = config.read_bytes()
    err = _one_line(*_cli(capsys, config, tmp_path / where))
    assert says in err
    assert config.read_bytes() == before and not (tmp_path / "llm" / "records").exists()


def test_a_foreign_nonempty_out_is_reused_with_a_warning_and_its_files_kept(tmp_path, caplog):
    out = tmp_path / "out"
    (out / "mine").mkdir(parents=True)
    (out / "notes.txt").write_text("keep me")
    (out / "mine" / "draft.part").write_text("a user's own .part file")
    (out / "records").mkdir()
    (out / "records" / ".000001.json.abc.part").write_text("a killed run's half file")
    config = load_data_config(_config(tmp_path))
    with caplog.at_level(logging.WARNING):
        Store(out).prepare(config, {})
    assert "not empty" in caplog.text
    assert (out / "notes.txt").read_text() == "keep me"
    assert (out / "mine" / "draft.part").exists()  # only make-data's own temporary names are cleaned up
    assert not (out / "records" / ".000001.json.abc.part").exists()


def test_ctrl_c_says_what_was_saved_and_how_to_resume(tmp_path, capsys, monkeypatch):
    config = _config(tmp_path)
    out = tmp_path / "out"

    def interrupted(config_, out_, **kwargs):
        (Path(out_) / "records").mkdir(parents=True)
        for i in range(3):
            (Path(out_) / "records" / f"{i:06d}.json").write_text(json.dumps({"status": "ok"}))
        raise KeyboardInterrupt

    monkeypatch.setattr("core.data.pipeline.make_data", interrupted)
    code, err = _cli(capsys, config, out)
    assert code == 130
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "interrupted: 3 finished record(s) are saved in" in lines[0]
    assert "resume with: " in lines[0] and f"make-data --config {config} --out {out}" in lines[0]
    assert lines[0].endswith("--inline --no-progress")
