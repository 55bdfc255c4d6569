"""Speech tokenizer: released layout, strict loading of both key layouts, extraction rules, bad input, CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file, save_file

from core.speech_tokenizer import ExtractionConfig, SpeechTokenizer
from models.errors import AudioInputError, CheckpointError
from models.speech_tokenizer_checkpoint import load_speech_tokenizer_network
from tests.helpers import synthetic_clip

ROOT = Path(__file__).resolve().parents[2]
RATE_HZ = 16000


@pytest.fixture(scope="module")
def tok(tiny_speech_tokenizer):
    return SpeechTokenizer.load(tiny_speech_tokenizer, device="cpu")


def _copy(src: Path, dst: Path, state: dict | None = None, config: dict | None = None) -> Path:
    shutil.copytree(src, dst)
    if state is not None:
        save_file(state, str(dst / "model.safetensors"))
    if config is not None:
        (dst / "config.json").write_text(json.dumps(config))
    return dst


def test_tiny_checkpoint_has_the_released_layout(tiny_speech_tokenizer):
    state = load_file(str(tiny_speech_tokenizer / "model.safetensors"))
    config = json.loads((tiny_speech_tokenizer / "config.json").read_text())
    features = json.loads((tiny_speech_tokenizer / "preprocessor_config.json").read_text())
    assert config["architectures"] == ["WhisperVQEncoder"] and config["quantize_vocab_size"] == 16384
    assert config["quantize_causal_block_size"] == 200 and config["pooling_kernel_size"] == 4
    assert features["feature_extractor_type"] == "WhisperFeatureExtractor" and features["feature_size"] == 128
    assert {"conv1.weight", "conv2.bias", "embed_positions.weight", "codebook.weight", "embed_positions2.weight",
            "ema_count", "ema_weight"} <= set(state)
    layers = {int(k.split(".")[1]) for k in state if k.startswith("layers.")}
    assert layers == set(range(config["quantize_position"]))  # nothing at or past the quantizer
    assert not any(k.startswith(("model.", "layer_norm")) for k in state)
    assert state["codebook.weight"].shape == (16384, config["d_model"])


def test_prefixed_layout_and_ignored_keys_give_the_same_codes(tiny_speech_tokenizer, tok, tmp_path):
    state = load_file(str(tiny_speech_tokenizer / "model.safetensors"))
    extra = {k.replace("layers.1.", "layers.7."): v.clone() for k, v in state.items() if k.startswith("layers.1.")}
    d = state["conv1.bias"].shape[0]
    prefixed = {f"model.encoder.{k}": v for k, v in {**state, **extra}.items()}
    prefixed["model.encoder.layer_norm.weight"] = torch.ones(d)  # the full encoder's final norm
    prefixed["model.decoder.embed_tokens.weight"] = torch.zeros(4, d)  # the rest of a full WhisperVQ model
    prefixed["proj_out.weight"] = torch.zeros(4, d)
    other = SpeechTokenizer.load(_copy(tiny_speech_tokenizer, tmp_path / "p", prefixed), device="cpu")
    clip = synthetic_clip(3.0)
    codes = tok.encode(clip, RATE_HZ)
    assert other.encode(clip, RATE_HZ) == codes and len(set(codes)) > 5


def test_missing_and_unexpected_keys_are_one_error(tiny_speech_tokenizer, tmp_path):
    state = load_file(str(tiny_speech_tokenizer / "model.safetensors"))
    del state["codebook.weight"], state["layers.0.fc1.bias"]
    state["adapter.weight"] = torch.zeros(2)
    with pytest.raises(CheckpointError) as err:
        load_speech_tokenizer_network(_copy(tiny_speech_tokenizer, tmp_path / "bad", state))
    message = str(err.value)
    assert "\n" not in message and "2 missing" in message and "codebook.weight" in message
    assert "layers.0.fc1.bias" in message and "1 unexpected (adapter.weight)" in message


def test_misshaped_and_wrong_architecture(tiny_speech_tokenizer, tmp_path):
    config = json.loads((tiny_speech_tokenizer / "config.json").read_text())
    with pytest.raises(CheckpointError, match=r"mis-shaped \(codebook.weight: file \[16384, 64\] vs config \[100"):
        load_speech_tokenizer_network(_copy(tiny_speech_tokenizer, tmp_path / "a", config={
            **config, "quantize_vocab_size": 100}))
    with pytest.raises(CheckpointError, match="not a GLM-4-Voice speech tokenizer"):
        load_speech_tokenizer_network(_copy(tiny_speech_tokenizer, tmp_path / "b", config={
            **config, "architectures": ["WhisperForConditionalGeneration"]}))


def test_safetensors_only(tiny_speech_tokenizer, tmp_path):
    d = _copy(tiny_speech_tokenizer, tmp_path / "bin")
    torch.save(load_file(str(d / "model.safetensors")), d / "pytorch_model.bin")
    (d / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="only safetensors"):
        load_speech_tokenizer_network(d)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_speech_tokenizer_network(tmp_path / "nowhere")


def test_units_per_segment_and_utterance(tok):
    assert tok.units_per_second == 12.5
    for n in (1, 1280, 1281, 40000):
        assert len(tok.encode(synthetic_clip(n / RATE_HZ), RATE_HZ)) == -(-n // 1280)
    long = tok.encode(synthetic_clip(31.0), RATE_HZ)
    assert len(long) == 375 + 13  # a 30 s segment, then 1 s (16000 / 1280 rounded up)


def test_block_causal_attention(tok):
    """Codes of the first 4 s block do not see later frames; inside a block, attention runs both ways."""
    net = tok.network
    mel = torch.randn(1, 128, 1200, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(1, 1200)
    base = net(mel, mask).states[0]  # [150, C]
    later = mel.clone()
    later[..., 400:] += 1.0  # from the second 200-frame block on
    changed = net(later, mask).states[0]
    torch.testing.assert_close(changed[:50], base[:50], rtol=0, atol=0)
    assert (changed[50:] - base[50:]).abs().amax(dim=1).min() > 1e-4
    inside = mel.clone()
    inside[..., 390:] += 1.0  # late in the first block: earlier codes of that block see it
    assert (net(inside, mask).states[0, 0] - base[0]).abs().max() > 1e-4


def test_padding_does_not_reach_real_frames(tok):
    net = tok.network
    mel = torch.randn(1, 128, 480, generator=torch.Generator().manual_seed(1))
    alone = net(mel, torch.ones(1, 480))
    padded = torch.cat([mel, torch.randn(1, 128, 320, generator=torch.Generator().manual_seed(2))], dim=2)
    mask = torch.cat([torch.ones(1, 480), torch.zeros(1, 320)], dim=1)
    out = net(padded, mask)
    assert out.mask[0].sum() == 60 and not out.mask[0, 60:].any()
    torch.testing.assert_close(out.states[0, :60], alone.states[0], rtol=0, atol=2e-6)
    assert out.codes[0, :60].tolist() == alone.codes[0].tolist()


def test_batched_equals_one_at_a_time(tiny_speech_tokenizer):
    clips = [(synthetic_clip(d, seed=s), RATE_HZ) for d, s in ((3.3, 1), (1.1, 2), (6.0, 3))]
    batched = SpeechTokenizer.load(tiny_speech_tokenizer, device="cpu", config=ExtractionConfig(batch_size=8))
    single = SpeechTokenizer.load(tiny_speech_tokenizer, device="cpu", config=ExtractionConfig(batch_size=1))
    assert batched.encode_batch(clips) == [single.encode(x, r) for x, r in clips]


def test_resampling_and_first_channel(tok):
    clip16 = synthetic_clip(4.0)
    t = np.arange(4 * 48000) / 48000
    clip48 = (0.3 * np.sin(2 * np.pi * (150 + 60 * t) * t)).astype(np.float32)
    codes48 = tok.encode(clip48, 48000)
    assert len(codes48) == len(tok.encode(clip16, RATE_HZ)) == 50
    stereo = np.stack([clip16, np.random.default_rng(0).standard_normal(clip16.size).astype(np.float32)], axis=1)
    assert tok.encode(stereo, RATE_HZ) == tok.encode(clip16, RATE_HZ)  # channel 0, as the reference


@pytest.mark.parametrize(
    ("samples", "rate", "message"),
    [
        (np.zeros(0, np.float32), RATE_HZ, "empty"),
        (np.zeros(RATE_HZ, np.float32), RATE_HZ, "silent"),
        (np.full(RATE_HZ, np.nan, np.float32), RATE_HZ, "NaN"),
        (np.full(601 * 8000, 0.1, np.float32), 8000, "601 s long; the limit is 600 s"),
        (np.ones((4, 4, 4), np.float32), RATE_HZ, "shape"),
        (np.ones((1, RATE_HZ), np.float32), RATE_HZ, "more channels than samples"),
    ],
    ids=["empty", "silent", "nan", "too-long", "3-d", "channels-first"],
)
def test_bad_audio_is_one_line(tok, samples, rate, message):
    with pytest.raises(AudioInputError, match=message) as err:
        tok.encode(samples, rate)
    assert "\n" not in str(err.value)


def test_bad_files(tok, tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all\n")
    with pytest.raises(AudioInputError, match="not a readable audio file"):
        tok.encode_file(text)
    with pytest.raises(AudioInputError, match="not found"):
        tok.encode_file(tmp_path / "missing.wav")
    wav = tmp_path / "ok.wav"
    sf.write(str(wav), synthetic_clip(44100 / RATE_HZ), 22050)
    assert len(tok.encode_file(wav)) == 25  # 2 s at 22.05 kHz -> 32000 samples at 16 kHz


def _run(*args):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_cli_units_json_and_round_trip(tiny_speech_tokenizer, tiny_decoder, tok, tmp_path):
    wav, out = tmp_path / "in.wav", tmp_path / "out.wav"
    clip = synthetic_clip(2.4)
    sf.write(str(wav), clip, RATE_HZ)
    res = _run("units", "--tokenizer", tiny_speech_tokenizer, "--audio", wav, "--json",
               "--decoder", tiny_decoder, "--out", out)
    assert res.returncode == 0, res.stderr
    printed = json.loads(res.stdout)
    assert printed["units"] == tok.encode(clip, RATE_HZ) and printed["count"] == 30
    audio, rate = sf.read(str(out))
    assert rate == 22050 and abs(len(audio) / rate - 30 / 12.5) < 0.2 and np.abs(audio).max() > 1e-3


def _run_in_process(capsys, *args) -> tuple[int, str, str]:
    from app.cli import build_parser, run_cli

    code = run_cli([str(a) for a in args], build_parser())
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("case", "message"),
    [("not-audio", "not a readable audio file"), ("wrong-layout", "missing"), ("half-round-trip", "go together")],
)
def test_cli_errors_are_one_line(tiny_speech_tokenizer, tmp_path, capsys, case, message):
    audio = tmp_path / "in.wav"
    sf.write(str(audio), synthetic_clip(1.0), RATE_HZ)
    tokenizer, extra = tiny_speech_tokenizer, []
    if case == "not-audio":
        audio = ROOT / "README.md"
    elif case == "wrong-layout":
        state = load_file(str(tiny_speech_tokenizer / "model.safetensors"))
        tokenizer = _copy(tiny_speech_tokenizer, tmp_path / "t", {f"encoder.{k}": v for k, v in state.items()})
    else:
        extra = ["--out", tmp_path / "x.wav"]
    code, _, err = _run_in_process(capsys, "units", "--tokenizer", tokenizer, "--audio", audio, *extra)
    assert code == 2 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], err


def test_make_tiny_speech_tokenizer_command(tmp_path, capsys):
    code, out, _ = _run_in_process(capsys, "make-tiny-speech-tokenizer", tmp_path / "t", "--seed", 3)
    assert code == 0 and "wrote tiny random speech tokenizer" in out
    net = load_speech_tokenizer_network(tmp_path / "t").network
    assert net.config.quantize_vocab_size == 16384 and len(net.layers) == 2


def test_benchmark_rows():
    from bench.bench_speech_tokenizer import format_table, run

    rows = run(["tiny"], None, n_clips=3, clip_s=1.0, released_clip_s=1.0, repeats=1)
    assert [r["batch_size"] for r in rows] == [3, 1] and all(r["same_codes_as_batched"] for r in rows)
    assert rows[0]["units"] == rows[1]["units"] == sum(-(-int(s * 16000) // 1280) for s in (0.6, 0.8, 1.0))
    assert rows[1]["batched_speedup"] > 0 and "units/s" in format_table(rows)


def test_eager_and_sdpa_attention_agree(tiny_speech_tokenizer):
    mel = torch.randn(1, 128, 880, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    mask = torch.cat([torch.ones(1, 800), torch.zeros(1, 80)], dim=1)
    outs = [load_speech_tokenizer_network(tiny_speech_tokenizer, impl).network.double()(mel, mask)
            for impl in ("sdpa", "eager")]
    torch.testing.assert_close(outs[0].states, outs[1].states, rtol=0, atol=1e-12)
    assert torch.equal(outs[0].codes, outs[1].codes)
