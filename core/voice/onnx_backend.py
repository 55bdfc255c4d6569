"""ONNX Runtime backend of the vocoder: the flow U-Net (called 10 x 2 times per chunk) and HiFT's F0 predictor
and conv body run as ONNX graphs; the encoder, regulator, Euler loop, harmonic source, STFT and iSTFT stay in
torch. Graphs are exported once per set of weights (dynamic time axes) and cached beside the checkpoint, or in
the user cache dir when that is read-only; the file names carry a hash of config.yaml + flow.pt + hift.pt (and
of this exporter's version), and stale files are replaced.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.decoder_checkpoint import LoadedDecoder, weights_fingerprint
from models.glm_constants import MEL_BINS
from models.hift import HiftParts

log = logging.getLogger(__name__)

EXPORT_VERSION = "glm4voice-onnx-1"  # bump when the exported graphs change
ONNX_OPSET = 17
HASH_CHARS = 16
CACHE_APP_NAME = "opens2s-companion"
CACHE_SUBDIR = "onnx"
EXAMPLE_FRAMES = 37  # odd on purpose: exercises the U-Net's crop after upsampling
GRAPHS = ("flow_estimator", "hift_f0", "hift_body")


def onnx_providers(device: torch.device) -> list[str]:
    """CUDA only when torch sees a GPU and the decoder runs there (onnxruntime-gpu lists CUDA regardless)."""
    if device.type == "cuda" and torch.cuda.is_available():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def cache_key(decoder_dir: Path) -> str:
    digest = hashlib.sha256((EXPORT_VERSION + weights_fingerprint(decoder_dir)).encode())
    return digest.hexdigest()[:HASH_CHARS]


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".probe-"):
            return True
    except OSError:
        return False


def resolve_cache_dir(decoder_dir: Path, override: str | Path | None) -> Path:
    """`override`, else `<decoder_dir>/onnx`, else `<user cache>/onnx/<hash of the checkpoint path>` when the
    checkpoint directory is read-only."""
    if override is not None:
        return Path(override)
    beside = decoder_dir / CACHE_SUBDIR
    if _writable(beside):
        return beside
    import platformdirs

    # one folder per checkpoint location: stale-graph cleanup never touches another checkpoint's graphs
    place = hashlib.sha256(str(decoder_dir.resolve()).encode()).hexdigest()[:HASH_CHARS]
    fallback = Path(platformdirs.user_cache_dir(CACHE_APP_NAME)) / CACHE_SUBDIR / place
    log.info("%s is read-only; caching ONNX graphs in %s", decoder_dir, fallback)
    return fallback


class _HiftF0(nn.Module):
    def __init__(self, hift: nn.Module) -> None:
        super().__init__()
        self.hift = hift

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.hift.f0_predictor(mel)


class _HiftBody(nn.Module):
    def __init__(self, hift: nn.Module) -> None:
        super().__init__()
        self.hift = hift

    def forward(self, mel: torch.Tensor, source_stft: torch.Tensor) -> torch.Tensor:
        return self.hift.body(mel, source_stft)


def _export_specs(loaded: LoadedDecoder) -> dict[str, tuple[nn.Module, tuple, list[str], dict]]:
    """name -> (module, example inputs, input names, dynamic axes)."""
    t, cfg = EXAMPLE_FRAMES, loaded.config.hift
    n_spec = cfg.n_fft + 2
    frames = t * cfg.samples_per_frame // cfg.hop_len + 1
    x = torch.randn(2, MEL_BINS, t)
    time_axes = {"x": {2: "frames"}, "mu": {2: "frames"}, "cond": {2: "frames"}, "velocity": {2: "frames"}}
    return {
        "flow_estimator": (
            loaded.flow.decoder.estimator,
            (x, x.clone(), torch.rand(2), torch.randn(2, MEL_BINS), x.clone()),
            ["x", "mu", "t", "spks", "cond"],
            time_axes,
        ),
        "hift_f0": (_HiftF0(loaded.hift), (x[:1],), ["mel"], {"mel": {2: "frames"}, "f0": {1: "frames"}}),
        "hift_body": (
            _HiftBody(loaded.hift),
            (x[:1], torch.randn(1, n_spec, frames)),
            ["mel", "source_stft"],
            {"mel": {2: "frames"}, "source_stft": {2: "stft_frames"}, "spec": {2: "stft_frames"}},
        ),
    }


OUTPUT_NAMES = {"flow_estimator": ["velocity"], "hift_f0": ["f0"], "hift_body": ["spec"]}


def export_graph(name: str, loaded: LoadedDecoder, path: Path) -> None:
    """Export one graph to `path` atomically (CPU, fp32, dynamic time axes)."""
    module, inputs, input_names, axes = _export_specs(loaded)[name]
    module = module.cpu().eval()
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            inputs,
            str(tmp),
            input_names=input_names,
            output_names=OUTPUT_NAMES[name],
            dynamic_axes=axes,
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    os.replace(tmp, path)
    log.info("exported %s to %s", name, path)


def ensure_graphs(loaded: LoadedDecoder, cache_dir: str | Path | None = None) -> dict[str, Path]:
    """Paths of up-to-date graphs for `loaded`, exporting missing ones and removing stale ones."""
    directory = resolve_cache_dir(loaded.directory, cache_dir)
    directory.mkdir(parents=True, exist_ok=True)
    key = cache_key(loaded.directory)
    paths = {name: directory / f"{name}.{key}.onnx" for name in GRAPHS}
    for stale in directory.glob("*.onnx"):
        if stale not in paths.values() and stale.name.split(".")[0] in GRAPHS:
            log.info("removing stale ONNX graph %s", stale)
            stale.unlink(missing_ok=True)
    for name, path in paths.items():
        if not path.is_file():
            export_graph(name, loaded, path)
    return paths


def make_session(path: Path, device: torch.device):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.log_severity_level = 3
    wanted = onnx_providers(device)
    session = ort.InferenceSession(str(path), sess_options=options, providers=wanted)
    got = session.get_providers()
    if wanted[0] not in got:
        log.warning("ONNX Runtime could not use %s for %s; running on %s", wanted[0], path.name, got)
    return session


class _SessionFn:
    """Call an ONNX session with torch tensors; returns a float32 torch tensor on the first input's device."""

    def __init__(self, session, input_names: list[str]) -> None:
        self.session, self.input_names = session, input_names

    def __call__(self, *tensors: torch.Tensor) -> torch.Tensor:
        feeds = {n: t.detach().float().cpu().numpy() for n, t in zip(self.input_names, tensors, strict=True)}
        (out,) = self.session.run(None, feeds)
        return torch.from_numpy(np.ascontiguousarray(out)).to(tensors[0].device)

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()


def build_onnx_backend(
    loaded: LoadedDecoder, device: torch.device, cache_dir: str | Path | None = None
) -> tuple[_SessionFn, HiftParts]:
    """(estimator callable, HiftParts) backed by ONNX Runtime sessions."""
    paths = ensure_graphs(loaded, cache_dir)
    specs = _export_specs(loaded)
    fns = {name: _SessionFn(make_session(paths[name], device), specs[name][2]) for name in GRAPHS}
    log.info("ONNX Runtime providers: %s", fns["flow_estimator"].providers)
    return fns["flow_estimator"], HiftParts(f0=fns["hift_f0"], body=fns["hift_body"])
