"""Decoder directory loading: the tiny decoder loads; bad directories give one-line CheckpointErrors."""

from __future__ import annotations

import argparse
import pickle
import shutil

import pytest
import torch

from app.cli import run_cli
from app.commands import make_tiny_decoder, vocode
from models.decoder_checkpoint import load_decoder
from models.decoder_config import load_decoder_config
from models.errors import CheckpointError
from models.tiny_decoder import DIMS
from tests.voice.helpers import tiny_dir


@pytest.fixture()
def bad_dir(tmp_path):
    """A writable copy of the tiny decoder to break."""
    target = tmp_path / "decoder"
    shutil.copytree(tiny_dir(), target, ignore=shutil.ignore_patterns("onnx"))
    return target


def _error(directory) -> str:
    with pytest.raises(CheckpointError) as info:
        load_decoder(directory)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_tiny_decoder_loads_with_configured_dims():
    loaded = load_decoder(tiny_dir())
    dims = DIMS["tiny"]
    assert loaded.flow.cfg.encoder.d_model == dims.d_model
    assert loaded.flow.cfg.encoder.block_size == 10
    assert len(loaded.flow.encoder.encoders) == dims.n_layers
    assert loaded.hift.cfg.samples_per_frame == 256
    assert not loaded.flow.training and not loaded.hift.training
    assert all(not p.requires_grad for p in loaded.flow.parameters())


def test_config_tags_are_data_never_executed(tmp_path, bad_dir):
    marker = tmp_path / "executed"
    text = (bad_dir / "config.yaml").read_text()
    text = (
        f"__evil: !apply:pathlib.Path.touch [{marker}]\n__evil2: !new:os.system ['touch {marker}']\n" + text
    )
    (bad_dir / "config.yaml").write_text(text)
    cfg = load_decoder_config(bad_dir / "config.yaml")
    assert cfg.flow.inference_cfg_rate == pytest.approx(0.7)
    assert cfg.hift.sampling_rate_hz == 22050  # came through `!ref <sample_rate>`
    assert not marker.exists()


def test_missing_file(bad_dir):
    (bad_dir / "hift.pt").unlink()
    assert "missing hift.pt" in _error(bad_dir)


def test_missing_directory(tmp_path):
    assert "does not exist" in _error(tmp_path / "nope")


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickled_code_is_refused(bad_dir):
    with open(bad_dir / "flow.pt", "wb") as fh:
        pickle.dump({"input_embedding.weight": _Payload()}, fh)
    assert "flow.pt is not a plain tensor state dict" in _error(bad_dir)


def test_wrong_shapes_missing_and_unexpected_keys_in_one_error(bad_dir):
    state = torch.load(bad_dir / "hift.pt", weights_only=True)
    state["conv_pre.bias"] = torch.zeros(3)
    del state["m_source.l_linear.weight"]
    state["surprise.weight"] = torch.zeros(1)
    torch.save(state, bad_dir / "hift.pt")
    message = _error(bad_dir)
    assert "hift.pt does not match config.yaml" in message
    assert "1 missing (m_source.l_linear.weight)" in message
    assert "1 unexpected (surprise.weight)" in message
    assert "conv_pre.bias: file [3]" in message


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "selfattention_layer_type: 'block_rel_selfattn'",
            "selfattention_layer_type: 'rel_selfattn'",
            "selfattention_layer_type",
        ),
        ("use_cnn_module: False", "use_cnn_module: True", "use_cnn_module"),
        (
            "!new:cosyvoice.hifigan.generator.HiFTGenerator",
            "!new:cosyvoice.hifigan.generator.HiFiGAN",
            "'hift'",
        ),
        ("act_fn: 'gelu'", "act_fn: 'snakebeta'", "act_fn"),
        ("upsample_rates: [8, 8]", "upsample_rates: [8, 4]", "samples/frame"),
    ],
)
def test_unknown_layout_is_rejected(bad_dir, old, new, expected):
    text = (bad_dir / "config.yaml").read_text()
    assert old in text
    (bad_dir / "config.yaml").write_text(text.replace(old, new))
    message = _error(bad_dir)
    assert "unsupported decoder" in message and expected in message


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="t")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    sub = parser.add_subparsers(dest="command")
    vocode.register(sub)
    make_tiny_decoder.register(sub)
    return parser


def test_cli_shows_checkpoint_error_without_traceback(bad_dir, tmp_path, capsys):
    (bad_dir / "flow.pt").write_bytes(b"not a checkpoint")
    units = tmp_path / "u.json"
    units.write_text("[1, 2, 3]")
    argv = ["vocode", "--decoder", str(bad_dir), "--units", str(units), "--out", str(tmp_path / "o.wav")]
    assert run_cli(argv, _parser()) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: flow.pt is not a plain tensor state dict")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_cli_bad_units_file(tmp_path, capsys):
    units = tmp_path / "u.json"
    units.write_text('{"units": [1, "x"]}')
    argv = ["vocode", "--decoder", str(tiny_dir()), "--units", str(units), "--out", str(tmp_path / "o.wav")]
    assert run_cli(argv, _parser()) == 2
    assert "must hold a JSON list of integers" in capsys.readouterr().err


def test_cli_make_tiny_decoder_then_vocode(tmp_path, capsys):
    import soundfile as sf

    parser = _parser()
    assert run_cli(["make-tiny-decoder", str(tmp_path / "dec"), "--seed", "3"], parser) == 0
    assert load_decoder(tmp_path / "dec").flow.cfg.encoder.d_model == DIMS["tiny"].d_model
    units = tmp_path / "u.json"
    units.write_text('{"units": [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]}')
    for extra in ([], ["--stream"], ["--stream", "--vocoder-schedule", "reference"]):
        out = tmp_path / "reply.wav"
        base = ["vocode", "--decoder", str(tmp_path / "dec"), "--units", str(units), "--out", str(out)]
        argv = base + extra
        assert run_cli(argv, parser) == 0
        audio, rate = sf.read(out)
        assert rate == 22050
        assert len(audio) == 96 * 256  # F(14 units) = floor(14 * 6.890625) = 96 frames
    assert "wrote" in capsys.readouterr().out


def test_other_unet_widths_and_encoder_input_size_load_and_run(tmp_path):
    # The reference builds U-Nets from any channel list and lets the encoder input differ from its width.
    from models.decoder_config import load_decoder_config as parse
    from models.flow import FlowModel
    from models.hift import HiftGenerator
    from models.tiny_decoder import random_state, render_config

    text = render_config("tiny").replace("channels: [64, 64]", "channels: [32, 64, 48]")
    text = text.replace("    input_size: 64\n", "    input_size: 48\n").replace(
        "        input_size: 64\n", "        input_size: 48\n"
    )
    (tmp_path / "config.yaml").write_text(text)
    cfg = parse(tmp_path / "config.yaml")
    assert cfg.flow.estimator.channels == (32, 64, 48) and cfg.flow.encoder.input_size == 48
    gen = torch.Generator().manual_seed(0)
    with torch.device("meta"):
        flow, hift = FlowModel(cfg.flow), HiftGenerator(cfg.hift)
    torch.save(random_state(flow, gen), tmp_path / "flow.pt")
    torch.save(random_state(hift, gen), tmp_path / "hift.pt")
    loaded = load_decoder(tmp_path)
    mel = loaded.flow.inference(torch.tensor([[1, 2, 3, 4, 5, 6, 7]]), generator=gen)
    assert mel.shape == (1, 80, 48) and torch.isfinite(mel).all()


def test_parametrized_weight_norm_names_are_accepted(bad_dir):
    state = torch.load(bad_dir / "hift.pt", weights_only=True)
    renamed = {}
    for key, value in state.items():
        key = key.replace(".weight_g", ".parametrizations.weight.original0")
        renamed[key.replace(".weight_v", ".parametrizations.weight.original1")] = value
    assert renamed.keys() != state.keys()
    torch.save(renamed, bad_dir / "hift.pt")
    expected = load_decoder(tiny_dir()).hift.conv_post.weight
    torch.testing.assert_close(load_decoder(bad_dir).hift.conv_post.weight, expected, rtol=0, atol=0)
