"""ONNX Runtime backend: agreement with torch, dynamic time axes, hash-keyed cache, provider choice.

Tolerances: U-Net and HiFT sub-graphs within 1e-4 of the torch output's scale; whole streamed waveform within
1e-2 of its peak (10 Euler steps and HiFT amplify the ~1e-6 per-call differences).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from core.voice import onnx_backend as vocoder_onnx
from core.voice.chunk_schedule import ChunkSchedule
from core.voice.vocoder import Vocoder
from tests.voice.helpers import decoder, stream_decode, tiny_dir, units

GRAPH_TOLERANCE = 1e-4
WAVE_TOLERANCE = 1e-2


def _close(got: torch.Tensor, want: torch.Tensor) -> None:
    assert got.shape == want.shape
    assert (got - want).abs().max() <= GRAPH_TOLERANCE * max(1.0, want.abs().max().item())


def test_estimator_graph_matches_torch_at_other_lengths():
    onnx_dec, torch_dec = decoder("onnx"), decoder("torch")
    gen = torch.Generator().manual_seed(0)
    for n_frames in (8, 51, 200):
        x, mu, cond = (torch.randn(2, 80, n_frames, generator=gen) for _ in range(3))
        t, spks = torch.rand(2, generator=gen), torch.randn(2, 80, generator=gen)
        with torch.inference_mode():
            want = torch_dec.flow.decoder.estimator(x, mu, t, spks, cond)
        _close(onnx_dec.estimator(x, mu, t, spks, cond), want)


def test_hift_graphs_match_torch():
    onnx_dec, torch_dec = decoder("onnx"), decoder("torch")
    mel = torch.randn(1, 80, 23, generator=torch.Generator().manual_seed(1)) - 5
    hift = torch_dec.hift
    with torch.inference_mode():
        f0 = hift.f0_predictor(mel)
        spec_in = torch.randn(1, 18, 23 * 64 + 1, generator=torch.Generator().manual_seed(2))
        body = hift.body(mel, spec_in)
    _close(onnx_dec.hift_parts.f0(mel), f0)
    _close(onnx_dec.hift_parts.body(mel, spec_in), body)


@pytest.mark.parametrize("schedule", [ChunkSchedule(), ChunkSchedule.reference()], ids=["ours", "reference"])
def test_streamed_audio_torch_vs_onnx(schedule):
    unit_ids = units(60)
    a, _ = stream_decode(decoder("torch"), unit_ids, schedule, seed=3)
    b, _ = stream_decode(decoder("onnx"), unit_ids, schedule, seed=3)
    a, b = np.concatenate(a), np.concatenate(b)
    assert a.shape == b.shape
    assert np.abs(a - b).max() <= WAVE_TOLERANCE * np.abs(a).max()


def test_cache_reused_and_rebuilt_when_weights_change(tmp_path):
    directory = tmp_path / "decoder"
    shutil.copytree(tiny_dir(), directory, ignore=shutil.ignore_patterns("onnx"))
    first = Vocoder.load(directory, backend="onnx")
    files = sorted((directory / "onnx").glob("*.onnx"))
    assert len(files) == 3
    stamps = {f: f.stat().st_mtime_ns for f in files}
    Vocoder.load(directory, backend="onnx")
    assert {f: f.stat().st_mtime_ns for f in files} == stamps  # reused, not re-exported
    state = torch.load(directory / "hift.pt", weights_only=True)
    state["conv_pre.bias"] += 0.5
    torch.save(state, directory / "hift.pt")
    Vocoder.load(directory, backend="onnx")
    new_files = sorted((directory / "onnx").glob("*.onnx"))
    assert len(new_files) == 3 and not set(new_files) & set(files)  # stale graphs replaced
    assert first.backend == "onnx"


def test_read_only_checkpoint_uses_user_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(vocoder_onnx, "_writable", lambda directory: False)
    chosen = vocoder_onnx.resolve_cache_dir(tiny_dir(), None)
    assert chosen.parent == tmp_path / "cache" / "opens2s-companion" / "onnx"
    other = vocoder_onnx.resolve_cache_dir(tmp_path / "another-decoder", None)
    assert other.parent == chosen.parent and other != chosen  # checkpoints never share a cache folder


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only provider choice")
def test_cpu_provider_without_cuda():
    assert vocoder_onnx.onnx_providers(torch.device("cpu")) == ["CPUExecutionProvider"]
    assert decoder("onnx").estimator.providers == ["CPUExecutionProvider"]


# -- issue 19, finding 11: cached graphs are trusted only by the hash this app recorded -----------------------------
@pytest.fixture
def fresh_decoder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    directory = tmp_path / "decoder"
    shutil.copytree(tiny_dir(), directory, ignore=shutil.ignore_patterns("onnx"))
    return directory


def _graphs(directory):
    return {p.name.split(".")[0]: p for p in (directory / "onnx").glob("*.onnx")}


def test_truncated_or_empty_graphs_are_rebuilt(fresh_decoder):
    Vocoder.load(fresh_decoder, backend="onnx")
    graphs = _graphs(fresh_decoder)
    good = graphs["flow_estimator"].read_bytes()
    graphs["flow_estimator"].write_bytes(good[: len(good) // 2])
    graphs["hift_f0"].write_bytes(b"")
    dec = Vocoder.load(fresh_decoder, backend="onnx")
    assert graphs["flow_estimator"].read_bytes() == good and graphs["hift_f0"].stat().st_size > 0
    assert dec.backend == "onnx"


def test_a_graph_shipped_with_the_checkpoint_is_never_trusted(fresh_decoder):
    key = vocoder_onnx.cache_key(fresh_decoder)
    planted = fresh_decoder / "onnx" / f"hift_f0.{key}.onnx"
    planted.parent.mkdir()
    planted.write_bytes(b"not the graph we would export")
    Vocoder.load(fresh_decoder, backend="onnx")
    assert planted.read_bytes() != b"not the graph we would export"
    manifest = vocoder_onnx.manifest_path(fresh_decoder, None)
    assert not manifest.is_relative_to(fresh_decoder) and planted.name in manifest.read_text()


def test_a_failed_export_leaves_no_temporary_file(fresh_decoder, monkeypatch):
    def boom(*args, **kwargs):
        open(args[2], "wb").write(b"partial")
        raise RuntimeError("export failed")

    monkeypatch.setattr(torch.onnx, "export", boom)
    with pytest.raises(RuntimeError):
        Vocoder.load(fresh_decoder, backend="onnx")
    assert [p.name for p in (fresh_decoder / "onnx").iterdir()] == []
