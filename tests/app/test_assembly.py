"""The one assembly point: `build(config)` from a `CompanionConfig`, flags and settings derived from the config
fields, hub ids resolved through the app's downloader, and each default written once."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import io
import subprocess
import sys
from pathlib import Path

import pytest

from app.assembly import build
from app.config import CompanionConfig, ComputeConfig, ModelSource
from app.flags import FlagGroup, add_flags, apply_flags, flag_name
from app.hub import COMPLETE_MARKER, MODEL_REPO, resolve_source
from app.settings import AppSettings
from core.lm.sampling import SamplingConfig
from core.options import HELP
from core.turns.config import EndOfTurnConfig, VadConfig
from models.errors import CheckpointError, UserError
from tests.ui.fake_hub_server import FakeHub

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("app", "core", "models", "ui")


def _parse(argv: list[str], groups) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_flags(p, groups)
    return p.parse_args(argv)


def test_flags_come_from_the_config_fields_with_their_help_and_default():
    from app.commands.converse import flag_groups

    p = argparse.ArgumentParser()
    add_flags(p, flag_groups())
    helps = {flag: a.help for a in p._actions for flag in a.option_strings}
    for group in flag_groups():
        for f in dataclasses.fields(group.cls):
            if group.fields is not None and f.name not in group.fields:
                continue
            text = helps[flag_name(group, f.name)]
            assert text.startswith(f.metadata[HELP]), (group.cls.__name__, f.name)
            if f.default is not None and f.default is not dataclasses.MISSING:
                assert "default: " in text, text
    assert "--end-silence-ms" in helps and "--eot-commit-prob" in helps and "--no-semantic" in helps
    assert "--vocoder-backend" in helps and "--decoder-backend" not in helps
    assert helps["--end-silence-ms"].endswith(f"(default: {VadConfig().end_silence_ms:g})")


def test_flags_not_given_keep_the_base_config_and_given_ones_replace_it():
    from app.commands.converse import flag_groups

    base = CompanionConfig()
    assert apply_flags(base, _parse([], flag_groups()), flag_groups()) == base
    args = _parse(["--end-silence-ms", "900", "--no-semantic", "--eot-commit-prob", "0.9", "--speculate-after-ms",
                   "off", "--input-device", "3", "--output-device", "pulse", "--top-p", "0.5", "--weights", "int8",
                   "--no-warm-up", "--checkpoint", "CASIA-LM/OpenS2S"], flag_groups())
    cfg = apply_flags(base, args, flag_groups())
    assert cfg.engine.vad.end_silence_ms == 900 and cfg.engine.vad.speculate_after_ms is None
    assert cfg.engine.end_of_turn == dataclasses.replace(EndOfTurnConfig(), semantic=False, commit_prob=0.9)
    assert (cfg.engine.audio.input_device, cfg.engine.audio.output_device) == (3, "pulse")
    assert (cfg.sampling.top_p, cfg.compute.weights, cfg.warm_up) == (0.5, "int8", False)
    assert cfg.model.checkpoint == "CASIA-LM/OpenS2S" and cfg.sampling.temperature == base.sampling.temperature


def test_an_invalid_flag_value_names_the_flag():
    from app.commands.converse import flag_groups

    with pytest.raises(UserError, match=r"--eot-hold-prob.*hold_prob"):
        apply_flags(CompanionConfig(), _parse(["--eot-hold-prob", "0.95"], flag_groups()), flag_groups())
    with pytest.raises(SystemExit):  # argparse: not a number
        _parse(["--end-silence-ms", "soon"], flag_groups())
    with pytest.raises(SystemExit):  # argparse: not one of the choices
        _parse(["--weights", "int3"], (FlagGroup("compute", ComputeConfig),))


def test_settings_mirror_the_config_defaults_and_build_the_same_config():
    s = AppSettings()
    cfg = s.config()
    assert s.end_silence_ms == VadConfig().end_silence_ms == cfg.engine.vad.end_silence_ms
    assert (s.temperature, s.top_p) == (cfg.sampling.temperature, cfg.sampling.top_p)
    assert cfg.listeners.local_files_only  # the window never downloads a listener by itself
    changed = AppSettings(end_silence_ms=900, eot_max_silence_ms=2000, vocoder_schedule="smooth", input_device="2")
    c = changed.config()
    assert (c.engine.vad.end_silence_ms, c.engine.end_of_turn.max_silence_ms) == (900, 2000)
    assert (c.voice.schedule, c.engine.audio.input_device) == ("smooth", 2)
    with pytest.raises(ValueError, match="vocoder_schedule"):
        AppSettings(vocoder_schedule="turbo")


def test_settings_files_keep_what_the_user_chose_and_let_new_defaults_reach_the_rest(tmp_path):
    import json

    from app.settings import SettingsStore

    store = SettingsStore(tmp_path)
    store.save(AppSettings(end_silence_ms=900))
    written = json.loads((tmp_path / "settings.json").read_text())
    assert written["end_silence_ms"] == 900 and "eot_max_silence_ms" not in written and "temperature" not in written
    assert store.load() == AppSettings(end_silence_ms=900)
    # a file from before (every field written, defaults included): an old default is not a choice ...
    old = {**written, "eot_max_silence_ms": 1500.0, "eot_commit_prob": 0.8, "temperature": 0.7}
    del old["format"]
    (tmp_path / "settings.json").write_text(json.dumps(old))
    loaded = store.load()
    assert loaded.eot_max_silence_ms == AppSettings().eot_max_silence_ms != 1500.0
    assert (loaded.end_silence_ms, loaded.temperature) == (900, 0.7)  # ... a value that was never a default is
    # a value that differs from the old default is the user's, in an old file too
    (tmp_path / "settings.json").write_text(json.dumps({**old, "eot_max_silence_ms": 2000.0}))
    assert store.load().eot_max_silence_ms == 2000.0


def _literal_defaults(values: dict[str, float]) -> dict[str, list[str]]:
    """Where product code gives a name its value as a literal: `x: float = 0.2`, `x: float = opt(0.2, ...)`,
    `f(x=0.2)` (other names' values, e.g. the data generator's own temperature, are other settings)."""
    names = set(values)
    found: dict[str, list[str]] = {n: [] for n in names}

    def literal(node):
        if isinstance(node, ast.Call) and node.args:  # opt(0.2, "help")
            node = node.args[0]
        return node.value if isinstance(node, ast.Constant) else None

    for package in PRODUCT:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                pairs = []
                if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                    pairs.append((node.target.id, node.value))
                elif isinstance(node, ast.Call):
                    pairs += [(k.arg, k.value) for k in node.keywords if k.arg]
                for name, value in pairs:
                    if name in names and literal(value) == values[name]:
                        found[name].append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_each_default_is_written_once_in_the_product():
    sampling = SamplingConfig()
    found = _literal_defaults({"end_silence_ms": VadConfig().end_silence_ms, "temperature": sampling.temperature,
                               "top_p": sampling.top_p})
    owners = {name: [where.split(":")[0] for where in places] for name, places in found.items()}
    assert owners == {"end_silence_ms": ["core/turns/config.py"], "temperature": ["core/lm/sampling.py"],
                      "top_p": ["core/lm/sampling.py"]}, found


@pytest.fixture
def hub(tiny_checkpoint, monkeypatch, tmp_path):
    server = FakeHub({MODEL_REPO: tiny_checkpoint})
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield server
    server.stop()


def test_a_hub_id_downloads_once_then_works_offline(hub, tmp_path, tiny_checkpoint):
    out = io.StringIO()
    folder = resolve_source(MODEL_REPO, "model", tmp_path, out=out)
    assert folder == tmp_path / "models" / "CASIA-LM--OpenS2S" and (folder / COMPLETE_MARKER).is_file()
    assert "downloading CASIA-LM/OpenS2S" in out.getvalue() and "100.0 %" in out.getvalue()
    files = [p.relative_to(tiny_checkpoint) for p in tiny_checkpoint.rglob("*") if p.is_file()]
    assert all((folder / f).read_bytes() == (tiny_checkpoint / f).read_bytes() for f in files)
    hub.stop()  # no network: the finished download is used as it is
    assert resolve_source(MODEL_REPO, "model", tmp_path) == folder


def test_folders_and_hub_ids_that_cannot_be_used_say_so_in_one_line(hub, tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        resolve_source(str(tmp_path / "no-such-folder"), "model", tmp_path)
    with pytest.raises(CheckpointError, match="does not exist"):  # the window asks before it downloads
        resolve_source(MODEL_REPO, "model", tmp_path, download=False)
    with pytest.raises(UserError, match="Download failed|not found|404"):
        resolve_source("nobody/nothing", "model", tmp_path, out=io.StringIO())
    hub.stop()
    with pytest.raises(UserError, match="stopped answering|No internet|Download failed"):
        resolve_source(MODEL_REPO, "model", tmp_path / "other", out=io.StringIO())


def test_build_loads_plans_and_makes_an_engine(tiny_checkpoint, tiny_decoder, tmp_path):
    from core.engine.engine import Engine

    steps: list[str] = []
    config = CompanionConfig(model=ModelSource(str(tiny_checkpoint), str(tiny_decoder)), warm_up=False,
                             engine=dataclasses.replace(CompanionConfig().engine,
                                                        end_of_turn=EndOfTurnConfig(semantic=False)))
    config = dataclasses.replace(config, voice=dataclasses.replace(config.voice, schedule="smooth", seed=7))
    companion = build(config, report=lambda _p, what: steps.append(what), data_root=tmp_path)
    assert steps[:3] == ["finding the model", "loading the model", "loading the speech decoder"]
    assert companion.playback.seed == 7 and companion.playback.schedule.chunk_units[0] == 16
    assert companion.end_of_turn.scorer is None and companion.end_of_turn.status.startswith("off")
    engine = companion.engine(sink=lambda ev: None)
    assert isinstance(engine, Engine) and engine.config is config.engine


def test_reply_takes_a_hub_id_through_the_same_downloader(hub, tmp_path):
    env = {"OPENS2S_COMPANION_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(REPO),
           "HF_ENDPOINT": hub.endpoint, "HF_HUB_CACHE": str(tmp_path / "hub-cache"), "PATH": "/usr/bin:/bin",
           "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "main.py", "reply", "--checkpoint", MODEL_REPO, "--text", "Hi", "--greedy",
                          "--max-text-tokens", "4", "--max-units", "4"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "downloading CASIA-LM/OpenS2S" in res.stderr
    assert (tmp_path / "data" / "models" / "CASIA-LM--OpenS2S" / COMPLETE_MARKER).is_file()
