"""What each training stage updates (the reference's recipes) and LoRA through peft.

| stage  | trainable                                                          | frozen                   |
|--------|--------------------------------------------------------------------|--------------------------|
| bridge | adapter, llm2tts, llm_ln, spk2tts, spk_ln (reference stage 1)      | encoder, LLM, TTS LM     |
| full   | adapter + projections + the whole LLM + the whole TTS LM (stage 2) | encoder                  |
| lora   | LoRA r16 a16 dropout 0.05 on LLM q/k/v/o + adapter + projections   | encoder, LLM base, TTS LM|
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model, get_peft_model_state_dict
from safetensors.torch import save_file

from models.adapter import ADAPTER_CONFIG_FILE, BRIDGE_WEIGHTS_FILE
from models.errors import UserError
from models.opens2s import OpenS2SModel

log = logging.getLogger(__name__)

STAGES = ("bridge", "full", "lora")
BRIDGE_PREFIXES = ("audio_adapter.", "llm2tts.", "llm_ln.", "tts_lm_model.spk2tts.", "tts_lm_model.spk_ln.")
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
ADAPTER_DIR = "adapter"  # peft adapter of the LLM + the other trained weights, written beside the merged model


@dataclass(frozen=True)
class LoraSpec:
    r: int = 16
    alpha: int = 16
    dropout: float = 0.05

    def __post_init__(self) -> None:
        if self.r < 1 or self.alpha < 1 or not 0.0 <= self.dropout < 1.0:
            raise UserError("LoRA needs r >= 1, alpha >= 1 and 0 <= dropout < 1")

    def peft_config(self) -> LoraConfig:
        return LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout,
                          target_modules=list(LORA_TARGETS), bias="none")


def apply_stage(model: OpenS2SModel, stage: str, lora: LoraSpec | None = None) -> list[str]:
    """Freeze/unfreeze in place (LoRA wraps `model.llm_model` in a peft model); returns the trainable names."""
    if stage not in STAGES:
        raise UserError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
    model.requires_grad_(False)
    if stage == "lora":
        model.llm_model = get_peft_model(model.llm_model, (lora or LoraSpec()).peft_config())
    for name, p in model.named_parameters():
        bridge = name.startswith(BRIDGE_PREFIXES)
        if stage == "full":
            p.requires_grad_(bridge or name.startswith(("llm_model.", "tts_lm_model.")))
        elif stage == "lora":
            p.requires_grad_(bridge or "lora_" in name)
        else:
            p.requires_grad_(bridge)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_all = sum(p.numel() for p in model.parameters())
    log.info("stage %s: %d trainable tensors, %.2f M of %.2f M parameters", stage, len(names), n_train / 1e6,
             n_all / 1e6)
    return names


def is_lora(model: OpenS2SModel) -> bool:
    return isinstance(model.llm_model, PeftModel)


def merge_lora(model: OpenS2SModel) -> None:
    """Fold the LoRA deltas into the LLM weights and drop the peft wrapper (the released key names come back)."""
    if is_lora(model):
        model.llm_model = model.llm_model.merge_and_unload()


def save_adapter(model: OpenS2SModel, out_dir: Path, base: Path) -> Path:
    """The LLM's LoRA as a standard peft adapter folder, plus the other trained (bridge) weights; `base` (the
    checkpoint trained from) is recorded as the adapter's base model."""
    folder = out_dir / ADAPTER_DIR
    model.llm_model.save_pretrained(str(folder), safe_serialization=True)
    config_path = folder / ADAPTER_CONFIG_FILE
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = str(Path(base).resolve())
    config_path.write_text(json.dumps(config, indent=2))
    bridge = {n: p.detach().float().cpu().contiguous() for n, p in model.named_parameters()
              if n.startswith(BRIDGE_PREFIXES)}
    save_file(bridge, str(folder / BRIDGE_WEIGHTS_FILE), metadata={"format": "pt"})
    return folder


def lora_state(model: OpenS2SModel) -> dict[str, torch.Tensor]:
    return get_peft_model_state_dict(model.llm_model) if is_lora(model) else {}
