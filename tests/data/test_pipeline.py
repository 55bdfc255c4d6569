"""make-data end to end on CPU (tiny random LLM, espeak-ng, tiny speech tokenizer, tiny Whisper): the dataset passes
the training loader, garbage LLM output is dropped and counted, a killed run resumes to the same dataset, and local
Ray gives what the in-process run gives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import soundfile as sf

from core.data.config import load_data_config
from core.data.pipeline import make_data
from models.errors import UserError
from tests.data.helpers import RAISE_ON_INDEX, SCRIPT, ScriptedLM, dataset_files, make_kit, write_config

N_E2E = 6
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    return make_kit(tmp_path_factory.mktemp("data_kit"))


@pytest.fixture(scope="module")
def e2e(kit, tmp_path_factory):
    """One uninterrupted in-process run of N_E2E records (the reference the other tests compare with)."""
    root = tmp_path_factory.mktemp("data_e2e")
    config = load_data_config(write_config(root / "c.yaml", kit, N_E2E))
    summary = make_data(config, root / "out", progress=False, inline=True)
    return root, config, summary


def test_e2e_dataset_passes_the_training_loader(e2e, tiny_checkpoint):
    from transformers import AutoTokenizer

    from core.training.data import load_dataset_file
    from core.training.encode import ExampleEncoder, build_training_set

    root, config, summary = e2e
    out = root / "out"
    assert summary.attempted == N_E2E and summary.kept + sum(summary.dropped.values()) == N_E2E
    assert summary.kept >= 3, summary  # guided decoding keeps most tiny-LM answers
    dataset = load_dataset_file(out / "data.jsonl")
    encoder = ExampleEncoder(AutoTokenizer.from_pretrained(str(tiny_checkpoint)),
                             AutoTokenizer.from_pretrained(str(tiny_checkpoint / "tts")))
    training = build_training_set(dataset, encoder)
    assert training.n_skipped == 0 and len(training.examples) == summary.kept
    assert all(len(ex.audio) == 1 and len(ex.units) == 1 and len(ex.units[0]) > 1 for ex in training.examples)
    rows = [json.loads(line) for line in (out / "data.jsonl").read_text().splitlines()]
    for row in rows:
        user, reply = row["messages"]
        info = sf.info(str(out / user["content"][0]["audio"]))
        assert info.samplerate == config.speech.sample_rate_hz and info.frames >= 8000
        assert reply["content"][0]["speech_units"].startswith("<|audio_") and reply["content"][0]["text"]
        assert row["meta"]["user_voice"] in config.speech.user_voices
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"attempted": N_E2E, "kept": summary.kept, "dropped": summary.dropped}
    assert manifest["seeds"]["base_seed"] == 7 and manifest["versions"]["espeak-ng"] != "absent"
    assert set(manifest["stage_seconds"]) == {"llm", "tts", "filter", "units", "write"}
    assert manifest["stage_seconds"]["llm"] > 0 and manifest["stage_seconds"]["tts"] > 0


def test_rerun_is_idempotent_and_other_settings_are_refused(e2e, kit):
    root, config, _ = e2e
    before = dataset_files(root / "out")
    again = make_data(config, root / "out", progress=False, inline=True)
    assert again.processed_this_run == 0 and dataset_files(root / "out") == before
    other = load_data_config(write_config(root / "other.yaml", kit, N_E2E, seed=8))
    with pytest.raises(UserError, match="made with other settings"):
        make_data(other, root / "out", progress=False, inline=True)


def test_garbage_llm_output_is_dropped_and_counted(kit, tmp_path):
    n = len(SCRIPT) + 2  # indices 10, 11: one batch whose LLM call raises
    config = load_data_config(write_config(tmp_path / "c.yaml", kit, n))
    summary = make_data(config, tmp_path / "out", progress=False, inline=True, lm_factory=ScriptedLM)
    expected = Counter(reason for _, reason in SCRIPT if reason)
    expected["llm:error"] = 2  # the batch of two that held RAISE_ON_INDEX
    assert RAISE_ON_INDEX == len(SCRIPT)
    assert summary.dropped == dict(expected)
    assert summary.kept == sum(reason is None for _, reason in SCRIPT)
    rows = [json.loads(line) for line in (tmp_path / "out" / "data.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["000000", "000006"]
    assert rows[1]["meta"]["user_style"] == "fast"


def test_filters_drop_and_count(kit, tmp_path):
    # ScriptedLM: of records 0..6, records 0 and 6 hold valid answers
    config = load_data_config(write_config(
        tmp_path / "c.yaml", kit, 7, filters={"max_wer": 0.0}))  # the random Whisper never gets the words right
    summary = make_data(config, tmp_path / "wer", progress=False, inline=True, lm_factory=ScriptedLM)
    assert summary.kept == 0 and summary.dropped["filter:wer"] == 2, summary
    config = load_data_config(write_config(
        tmp_path / "d.yaml", kit, 7, filters={"max_duration_s": 1.0, "asr_checkpoint": None}))
    summary = make_data(config, tmp_path / "dur", progress=False, inline=True, lm_factory=ScriptedLM)
    assert summary.kept == 0 and summary.dropped["filter:duration"] == 2, summary
    state = json.loads((tmp_path / "dur" / "records" / "000000.json").read_text())
    assert state["checks"]["user"]["duration_s"] > 1.0 and not list((tmp_path / "dur" / "audio").iterdir())
    config = load_data_config(write_config(tmp_path / "e.yaml", kit, 7, filters={
        "asr_checkpoint": None, "emotion_checkpoint": str(kit["listen_ser"]), "emotion_map": ["sad=no-such"]}))
    summary = make_data(config, tmp_path / "emo", progress=False, inline=True, lm_factory=ScriptedLM)
    assert summary.kept == 0 and summary.dropped["filter:emotion"] == 2, summary
    state = json.loads((tmp_path / "emo" / "records" / "000006.json").read_text())
    assert state["checks"]["user"]["heard_emotion"] in ("neutral", "happy", "sad", "angry")


def _start_make_data(cfg, out, stderr):
    """`main.py make-data` in its own session (so a signal reaches its whole group); returns (proc, cmd, env)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, str(REPO / "main.py"), "make-data", "--config", str(cfg), "--out", str(out), "--inline",
           "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=stderr, text=True,
                            start_new_session=True)
    return proc, cmd, env


def _wait_for_records(proc, out, n, what):
    deadline = time.monotonic() + 240
    while len(list((out / "records").glob("*.json"))) < n and time.monotonic() < deadline:
        assert proc.poll() is None, f"make-data ended before it could be {what}"
        time.sleep(0.02)


def test_killed_run_resumes_to_the_uninterrupted_dataset(e2e, kit, tmp_path):
    root, _, _ = e2e
    cfg = write_config(tmp_path / "c.yaml", kit, N_E2E)
    out = tmp_path / "out"
    proc, _, _ = _start_make_data(cfg, out, subprocess.DEVNULL)
    try:
        _wait_for_records(proc, out, 2, "killed")
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    done = len(list((out / "records").glob("*.json")))
    assert proc.returncode == -signal.SIGKILL and 2 <= done < N_E2E, done
    assert not (out / "data.jsonl").exists()
    for wav in (out / "audio").glob("*.wav"):
        sf.info(str(wav))  # whole files only (temporary names are not .wav)
    summary = make_data(load_data_config(cfg), out, progress=False, inline=True)
    assert summary.processed_this_run == N_E2E - done
    assert not list(out.rglob("*.part"))
    assert dataset_files(out) == dataset_files(root / "out")


def test_ctrl_c_keeps_finished_records_and_its_resume_command_finishes_the_dataset(e2e, kit, tmp_path):
    import shlex

    root, _, _ = e2e
    cfg = write_config(tmp_path / "c.yaml", kit, N_E2E)
    out = tmp_path / "out"
    proc, cmd, env = _start_make_data(cfg, out, subprocess.PIPE)
    try:
        _wait_for_records(proc, out, 2, "interrupted")
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    done = len(list((out / "records").glob("*.json")))
    lines = err.strip().splitlines()
    assert lines, f"nothing said on Ctrl-C (exit {proc.returncode})"
    last = lines[-1]
    assert proc.returncode == 130 and 2 <= done < N_E2E, (proc.returncode, done, err[-2000:])
    assert last.startswith(f"interrupted: {done} finished record(s) are saved in {out / 'records'}"), last
    resume = shlex.split(last.split("resume with: ", 1)[1])
    assert resume[1:] == [str(REPO / "main.py"), *cmd[2:]]
    again = subprocess.run(resume, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"{N_E2E - done} processed in this run" in again.stdout
    assert dataset_files(out) == dataset_files(root / "out")


@pytest.mark.slow  # Ray start-up plus two actors importing torch: ~35 s alone, ~90 s on 2 busy cores
def test_local_ray_matches_the_inline_run(e2e, kit, tmp_path):
    import ray

    root, _, summary_inline = e2e
    n = 4
    config = load_data_config(write_config(tmp_path / "c.yaml", kit, n))
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}})
    try:
        summary = make_data(config, tmp_path / "out", progress=False)
    finally:
        ray.shutdown()
    assert summary.attempted == n
    inline_rows = [line for line in (root / "out" / "data.jsonl").read_text().splitlines()
                   if int(json.loads(line)["id"]) < n]
    assert (tmp_path / "out" / "data.jsonl").read_text().splitlines() == inline_rows
    for name, data in dataset_files(tmp_path / "out").items():
        if name != "data.jsonl":
            assert data == (root / "out" / name).read_bytes(), name
