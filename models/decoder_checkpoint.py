"""Load a released `glm-4-voice-decoder` directory (config.yaml, flow.pt, hift.pt) unchanged.

Weights go through `torch.load(weights_only=True)` only. Key matching is strict: every missing, unexpected or
mis-shaped tensor of a file is collected and reported in ONE `CheckpointError`. Modules are built on the meta
device and take the loaded tensors directly (no random init of 130 M parameters just to overwrite them).
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from models.decoder_config import DecoderConfig, load_decoder_config
from models.errors import CheckpointError, allocation_failure
from models.flow import FlowModel
from models.glm_constants import CONFIG_FILE, FLOW_WEIGHTS_FILE, HIFT_WEIGHTS_FILE
from models.hift import HiftGenerator
from models.key_report import key_problems
from models.tensor_checks import dtype_problem, is_finite, refuse_nonfinite
from models.weight_norm import fold_weight_norm

log = logging.getLogger(__name__)

HASH_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class LoadedDecoder:
    config: DecoderConfig
    flow: FlowModel
    hift: HiftGenerator
    directory: Path


def load_decoder(directory: str | Path) -> LoadedDecoder:
    """Build flow and HiFT from a decoder directory; raises `CheckpointError` with one line on any problem (and
    MemoryError, however the allocation failed)."""
    root = Path(directory)
    try:
        return _load_decoder(root)
    except (OSError, RuntimeError) as err:
        if allocation_failure(err):
            raise MemoryError(f"not enough memory to load the decoder {root}") from err
        if isinstance(err, OSError):  # e.g. a folder that cannot be listed
            raise CheckpointError(f"cannot read {err.filename or root} ({err.strerror or type(err).__name__})"
                                  + ("; check its permissions" if isinstance(err, PermissionError) else "")) from None
        raise


def _load_decoder(root: Path) -> LoadedDecoder:
    if not root.is_dir():
        raise CheckpointError(
            f"decoder directory {root} does not exist (expected {CONFIG_FILE}, "
            f"{FLOW_WEIGHTS_FILE}, {HIFT_WEIGHTS_FILE})"
        )
    missing = [n for n in (CONFIG_FILE, FLOW_WEIGHTS_FILE, HIFT_WEIGHTS_FILE) if not (root / n).is_file()]
    if missing:
        raise CheckpointError(f"decoder directory {root} is missing {', '.join(missing)}")
    cfg = load_decoder_config(root / CONFIG_FILE)
    with torch.device("meta"):
        flow, hift = FlowModel(cfg.flow), HiftGenerator(cfg.hift)
    _load_strict(flow, read_state_dict(root / FLOW_WEIGHTS_FILE), FLOW_WEIGHTS_FILE)
    _load_strict(hift, legacy_weight_norm_keys(read_state_dict(root / HIFT_WEIGHTS_FILE)), HIFT_WEIGHTS_FILE)
    fold_weight_norm(hift)
    for module in (flow, hift):
        module.eval().requires_grad_(False)
    log.info(
        "loaded GLM-4-Voice decoder from %s (flow %.1f M, hift %.1f M params)",
        root,
        _n_params(flow) / 1e6,
        _n_params(hift) / 1e6,
    )
    return LoadedDecoder(cfg, flow, hift, root)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """`torch.load(weights_only=True)` of a plain {name: tensor} dict, or `CheckpointError`."""
    try:
        with warnings.catch_warnings():  # a legacy pickle is refused below; torch's warning about it is noise
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError, TypeError) as err:
        if allocation_failure(err):
            raise MemoryError(f"not enough memory to read {path}") from err
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"{path.name} is not a plain tensor state dict (torch.load weights_only refused it: "
            f"{first[:160]})"
        ) from err
    except OSError as err:
        raise CheckpointError(f"cannot read {path} ({err.strerror})"
                              + ("; check its permissions" if isinstance(err, PermissionError) else "")) from None
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise CheckpointError(f"{path.name} is not a plain {{name: tensor}} state dict")
    return data


PARAMETRIZED_WEIGHT_NORM = {
    ".parametrizations.weight.original0": ".weight_g",
    ".parametrizations.weight.original1": ".weight_v",
}


def legacy_weight_norm_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Accept `torch.nn.utils.parametrizations.weight_norm` names too, mapped onto the legacy g / v names."""
    renamed = {}
    for key, value in state.items():
        for new, old in PARAMETRIZED_WEIGHT_NORM.items():
            if key.endswith(new):
                key = key[: -len(new)] + old
        renamed[key] = value
    return renamed


def _load_strict(module: nn.Module, state: dict[str, torch.Tensor], file_name: str) -> None:
    problems = key_problems(module, state)
    if problems:
        raise CheckpointError(f"{file_name} does not match config.yaml: {problems}")
    expected = module.state_dict()
    wrong = [p for k, v in state.items() if (p := dtype_problem(k, v, expected[k].dtype))]
    if wrong:
        raise CheckpointError(f"{file_name} does not match config.yaml: wrong dtype {'; '.join(wrong[:4])}")
    tensors = {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in state.items()}
    refuse_nonfinite(file_name, [k for k, v in tensors.items() if not is_finite(v)])
    module.load_state_dict(tensors, strict=True, assign=True)


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def weights_fingerprint(directory: str | Path) -> str:
    """SHA-256 over config.yaml, flow.pt and hift.pt contents (keys exported ONNX files to their sources)."""
    digest = hashlib.sha256()
    for name in (CONFIG_FILE, FLOW_WEIGHTS_FILE, HIFT_WEIGHTS_FILE):
        digest.update(name.encode())
        with open(Path(directory) / name, "rb") as fh:
            while chunk := fh.read(HASH_CHUNK_BYTES):
                digest.update(chunk)
    return digest.hexdigest()
