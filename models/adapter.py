"""LoRA adapter folders (written by `train --stage lora --save-adapter`): a standard peft adapter of the LLM plus
the other weights that run trained (adapter, projections) in `bridge.safetensors`. `adapter_config.json`'s
`base_model_name_or_path` names the base checkpoint folder (absolute, or relative to the adapter folder).

Opening such a folder anywhere a checkpoint is expected loads the base and merges the adapter into it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from models.config import CONFIG_FILE
from models.errors import CheckpointError

log = logging.getLogger(__name__)

ADAPTER_CONFIG_FILE = "adapter_config.json"
ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors"  # peft's safetensors name; its pickled .bin is never opened
BRIDGE_WEIGHTS_FILE = "bridge.safetensors"


def is_adapter_dir(path: Path) -> bool:
    return (path / ADAPTER_CONFIG_FILE).is_file() and not (path / CONFIG_FILE).is_file()


def adapter_base(folder: Path) -> Path:
    try:
        base = json.loads((folder / ADAPTER_CONFIG_FILE).read_text(encoding="utf-8"))["base_model_name_or_path"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{folder / ADAPTER_CONFIG_FILE} is unreadable ({err})") from None
    path = Path(str(base or "")).expanduser()
    path = path if path.is_absolute() else folder / path
    if not base or not (path / CONFIG_FILE).is_file():
        raise CheckpointError(f"{folder}: its base checkpoint {base!r} (adapter_config.json base_model_name_or_path) "
                              "is not an OpenS2S checkpoint folder; set it to the folder the adapter was trained on")
    return path


def apply_adapter(model: torch.nn.Module, folder: Path) -> None:
    """Merge the folder's LoRA into `model.llm_model` and copy its bridge weights (in place)."""
    from peft import PeftModel  # only adapter folders need peft

    for name in (ADAPTER_WEIGHTS_FILE, BRIDGE_WEIGHTS_FILE):
        if not (folder / name).is_file():
            pickled = " (a pickled adapter_model.bin is never loaded: it could run code)" if (
                name == ADAPTER_WEIGHTS_FILE and any(folder.glob("adapter_model*.bin"))) else ""
            raise CheckpointError(f"{folder}: {name} missing{pickled}; not an adapter folder written by `train`")
    dtype, device = model.llm2tts.weight.dtype, model.llm2tts.weight.device
    try:
        # peft reads adapter_model.safetensors when it exists (checked above), never the .bin beside it
        model.llm_model = PeftModel.from_pretrained(model.llm_model, str(folder)).merge_and_unload()
        bridge = load_file(str(folder / BRIDGE_WEIGHTS_FILE), device=str(device))
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as err:
        raise CheckpointError(f"{folder}: the adapter does not fit its base checkpoint ({err})") from None
    model.llm_model.to(dtype)
    params = dict(model.named_parameters())
    bad = [k for k, v in bridge.items() if k not in params or params[k].shape != v.shape]
    if bad:
        raise CheckpointError(f"{folder / BRIDGE_WEIGHTS_FILE}: weights do not fit the base model: {bad[:4]}")
    with torch.no_grad():
        for k, v in bridge.items():
            params[k].copy_(v.to(dtype))
    model.requires_grad_(False)
    log.info("merged the adapter %s", folder)
