"""ONNX Runtime backend of the vocoder: the flow U-Net (called 10 x 2 times per chunk) and HiFT's F0 predictor
and conv body run as ONNX graphs; the encoder, regulator, Euler loop, harmonic source, STFT and iSTFT stay in
torch. Graphs are exported once per set of weights (dynamic time axes) and cached beside the checkpoint, or in
the user cache dir when that is read-only; the file names carry a hash of config.yaml + flow.pt + hift.pt (and
of this exporter's version), and stale files are replaced.

A cached graph is trusted only if its SHA-256 matches what this app recorded when it exported it, in a manifest
kept outside the checkpoint folder (the user cache dir, or the cache dir the caller chose): a zero-byte or
truncated graph is rebuilt, and a graph shipped inside a downloaded decoder folder under the predictable name is
never run. A graph that ONNX Runtime still refuses is rebuilt once; a failed export leaves no temporary file.
"""

from __future__ import annotations

import hashlib
import json
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
MANIFEST = "manifest.json"  # {graph file name: sha256 of the file as exported}


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
    fallback = _user_cache_place(decoder_dir)
    log.info("%s is read-only; caching ONNX graphs in %s", decoder_dir, fallback)
    return fallback


def _user_cache_place(decoder_dir: Path) -> Path:
    import platformdirs

    # one folder per checkpoint location: stale-graph cleanup never touches another checkpoint's graphs
    place = hashlib.sha256(str(decoder_dir.resolve()).encode()).hexdigest()[:HASH_CHARS]
    return Path(platformdirs.user_cache_dir(CACHE_APP_NAME)) / CACHE_SUBDIR / place


def manifest_path(decoder_dir: Path, override: str | Path | None) -> Path:
    """Where the hashes of our own exports live: never inside the (untrusted) checkpoint folder."""
    return (Path(override) if override is not None else _user_cache_place(decoder_dir)) / MANIFEST


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_manifest(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(data, dict) \
        else {}


def _write_manifest(path: Path, data: dict[str, str]) -> None:
    """Best effort: without it the graphs are only exported again next time."""
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as err:
        log.warning("cannot record ONNX graph hashes in %s (%s); they will be exported again", path, err)
        tmp.unlink(missing_ok=True)


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
    try:
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
    finally:
        tmp.unlink(missing_ok=True)
    log.info("exported %s to %s", name, path)


def ensure_graphs(loaded: LoadedDecoder, cache_dir: str | Path | None = None) -> dict[str, Path]:
    """Paths of up-to-date graphs for `loaded`, exporting missing ones and removing stale ones."""
    directory = resolve_cache_dir(loaded.directory, cache_dir)
    directory.mkdir(parents=True, exist_ok=True)
    key = cache_key(loaded.directory)
    paths = {name: directory / f"{name}.{key}.onnx" for name in GRAPHS}
    for stale in list(directory.iterdir()):
        if stale.name.split(".")[0] in GRAPHS and stale not in paths.values():  # older keys, failed exports
            log.info("removing stale ONNX graph %s", stale)
            stale.unlink(missing_ok=True)
    manifest_file = manifest_path(loaded.directory, cache_dir)
    manifest = _read_manifest(manifest_file)
    for name, path in paths.items():
        if path.is_file() and manifest.get(path.name) == _sha256(path):
            continue
        if path.is_file():
            log.warning("ONNX graph %s is not the one this app exported (corrupt, truncated or shipped with the "
                        "checkpoint); rebuilding it", path)
        export_graph(name, loaded, path)
        manifest[path.name] = _sha256(path)
        _write_manifest(manifest_file, manifest)
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


def _session_or_rebuild(name: str, path: Path, loaded: LoadedDecoder, device: torch.device,
                        cache_dir: str | Path | None):
    """An ONNX Runtime session for `path`; a graph it refuses is exported again once, then CheckpointError."""
    from models.errors import CheckpointError

    try:
        return make_session(path, device)
    except Exception as err:  # onnxruntime raises its own exception types
        log.warning("ONNX Runtime refused %s (%s); rebuilding it", path, err)
    export_graph(name, loaded, path)
    manifest_file = manifest_path(loaded.directory, cache_dir)
    _write_manifest(manifest_file, {**_read_manifest(manifest_file), path.name: _sha256(path)})
    try:
        return make_session(path, device)
    except Exception as err:
        raise CheckpointError(f"ONNX Runtime cannot run the exported {name} graph ({' '.join(str(err).split())}); "
                              f"use the torch vocoder backend") from None


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
    fns = {name: _SessionFn(_session_or_rebuild(name, paths[name], loaded, device, cache_dir), specs[name][2])
           for name in GRAPHS}
    log.info("ONNX Runtime providers: %s", fns["flow_estimator"].providers)
    return fns["flow_estimator"], HiftParts(f0=fns["hift_f0"], body=fns["hift_body"])
