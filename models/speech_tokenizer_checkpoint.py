"""Load a released `THUDM/glm-4-voice-tokenizer` directory (config.json, model*.safetensors, preprocessor_config.json).

Two key layouts are accepted, as the reference has two loaders:
- unprefixed (`conv1.*`, `layers.N.*`, `codebook.weight`, `embed_positions2.weight`, `ema_*`): what
  `WhisperVQEncoder.from_pretrained` reads, and what the released file holds;
- `model.encoder.*`: what `utils.load_quantize_encoder` reads (other `model.decoder.*` / `proj_out.*` keys of a full
  WhisperVQ model are skipped, as it does).
Layers at or past the quantizer, the final `layer_norm`, and the codebook's training statistics (`ema_count`,
`ema_weight`) are ignored when present. Everything else is strict: one `CheckpointError` names the missing,
unexpected and mis-shaped keys. Safetensors only.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from models.errors import CheckpointError
from models.json_file import read_json, unreadable
from models.key_report import key_problems
from models.speech_tokenizer import SpeechTokenizerConfig, WhisperVQEncoder
from models.tensor_checks import is_finite, refuse_nonfinite

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FEATURE_CONFIG_FILE = "preprocessor_config.json"
PREFIX = "model.encoder."
SKIPPED_PREFIXES = ("model.decoder.", "proj_out.")  # the rest of a full WhisperVQ model (prefixed layout only)
IGNORED_NAMES = re.compile(r"^(layer_norm\.(weight|bias)|ema_count|ema_weight)$")
LAYER_NAME = re.compile(r"^layers\.(\d+)\.")


@dataclass(frozen=True)
class LoadedSpeechTokenizer:
    config: SpeechTokenizerConfig
    network: WhisperVQEncoder
    directory: Path


def read_config(directory: Path, attn_implementation: str = "sdpa") -> SpeechTokenizerConfig:
    path = directory / CONFIG_FILE
    data = read_json(path)
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} must hold a JSON object")
    config = SpeechTokenizerConfig.from_dict(data, str(path))
    return dataclasses.replace(config, attn_implementation=attn_implementation)


def weight_files(directory: Path) -> list[Path]:
    files = sorted(directory.glob("model*.safetensors"))
    if not files:
        others = sorted(p.name for p in directory.glob("*.bin")) + sorted(p.name for p in directory.glob("*.pt"))
        hint = f" (found {', '.join(others)}: only safetensors are loaded; convert them)" if others else ""
        raise CheckpointError(f"{directory} has no model*.safetensors{hint}")
    return files


def local_name(file_key: str, prefixed: bool, quantize_position: int) -> str | None:
    """The network's name for a file key, or None when the key is one the tokenizer ignores."""
    if prefixed:
        if file_key.startswith(SKIPPED_PREFIXES):
            return None
        if not file_key.startswith(PREFIX):
            return file_key  # reported as unexpected
        file_key = file_key[len(PREFIX):]
    if IGNORED_NAMES.match(file_key):
        return None
    layer = LAYER_NAME.match(file_key)
    if layer and int(layer.group(1)) >= quantize_position:
        return None
    return file_key


def read_weights(directory: Path, quantize_position: int) -> dict[str, torch.Tensor]:
    """Tensors the network needs from model*.safetensors, renamed to its names (unchecked)."""
    handles = []
    for path in weight_files(directory):
        try:
            with open(path, "rb") as fh:  # unreadable (permissions, I/O) is told apart from corrupt
                fh.read(8)
        except OSError as err:
            raise unreadable(path, err) from None
        try:
            handles.append((path, safe_open(str(path), framework="pt", device="cpu")))
        except (SafetensorError, OSError) as err:
            raise CheckpointError(f"{path} is not a readable safetensors file ({str(err)[:160]})") from err
    keys = [k for _, h in handles for k in h.keys()]
    prefixed = any(k.startswith(PREFIX) for k in keys)
    state: dict[str, torch.Tensor] = {}
    for _, handle in handles:
        for key in handle.keys():
            name = local_name(key, prefixed, quantize_position)
            if name is not None:
                state[name] = handle.get_tensor(key)
    log.debug("%d of %d keys used (%s layout)", len(state), len(keys), "model.encoder." if prefixed else "plain")
    return state


def check_keys(network: torch.nn.Module, state: dict[str, torch.Tensor], directory: Path) -> None:
    problems = key_problems(network, state)
    if problems:
        raise CheckpointError(
            f"{directory} does not hold a GLM-4-Voice tokenizer matching its {CONFIG_FILE}: {problems}"
        )


def load_speech_tokenizer_network(
    directory: str | Path, attn_implementation: str = "sdpa"
) -> LoadedSpeechTokenizer:
    """Build the encoder (float32, CPU, eval) from a tokenizer directory; `CheckpointError` on any mismatch."""
    root = Path(directory)
    if not root.is_dir():
        raise CheckpointError(f"speech tokenizer directory {root} does not exist (expected {CONFIG_FILE}, "
                              f"{WEIGHTS_FILE}, {FEATURE_CONFIG_FILE})")
    missing = [n for n in (CONFIG_FILE, FEATURE_CONFIG_FILE) if not (root / n).is_file()]
    if missing:
        raise CheckpointError(f"speech tokenizer directory {root} is missing {', '.join(missing)}")
    config = read_config(root, attn_implementation)
    state = read_weights(root, config.quantize_position)
    with torch.device("meta"):
        network = WhisperVQEncoder(config)
    check_keys(network, state, root)
    tensors = {k: v.to(torch.float32) for k, v in state.items()}
    refuse_nonfinite(str(root), [k for k, v in tensors.items() if not is_finite(v)])
    network.load_state_dict(tensors, strict=True, assign=True)
    network.eval().requires_grad_(False)
    n_params = sum(p.numel() for p in network.parameters())
    log.info("loaded GLM-4-Voice speech tokenizer from %s (%d layers, %.1f M params)", root,
             config.quantize_position, n_params / 1e6)
    return LoadedSpeechTokenizer(config, network, root)
