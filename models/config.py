"""The released OpenS2S `config.json` (an `OmniSpeechConfig` with `"model_type": ""`), read as data.

The file nests three transformers configs (`audio_encoder_config`, `llm_config`, `tts_lm_config`) plus the adapter
and interleave settings. We never resolve it through `AutoConfig` (its empty model type cannot be resolved) and
never execute anything from it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huggingface_hub.errors import StrictDataclassError
from transformers import PretrainedConfig, Qwen2AudioEncoderConfig, Qwen2Config, Qwen3Config

from models.config_checks import (
    MAX_WIDTH,
    check_audio_encoder,
    check_dtype_name,
    check_int,
    check_transformer,
    checked_raw_sub_config,
)
from models.errors import CheckpointError
from models.json_file import read_json

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
DEFAULT_CONV_KERNEL_SIZES = "5,5"
DEFAULT_ADAPTER_INNER_DIM = 512
DEFAULT_INTERLEAVE_STRATEGY = "1:2"  # text_span:speech_span

AUDIO_ENCODER_TYPES = {"qwen2_audio_encoder": Qwen2AudioEncoderConfig, "qwen2_audio": Qwen2AudioEncoderConfig}
CAUSAL_LM_TYPES = {"qwen3": Qwen3Config, "qwen2": Qwen2Config}
# Model types other OmniSpeech-style models write at the top level; anything else non-empty is another model.
ACCEPTED_TOP_LEVEL_TYPES = {"", "omnispeech"}
# How attention is computed is this app's choice (per device), not the checkpoint's: these keys are dropped.
RUNTIME_KEYS = ("attn_implementation", "_attn_implementation", "_attn_implementation_autoset")


def parse_interleave(strategy: str) -> tuple[int, int]:
    """'1:2' -> (1, 2). Both spans must be positive integers."""
    try:
        text_span, speech_span = (int(x) for x in str(strategy).split(":"))
        if max(text_span, speech_span) > 4096:
            raise ValueError(strategy)
    except ValueError:
        raise CheckpointError(
            f"config.json: interleave_strategy {strategy!r} is not of the form 'TEXT:SPEECH' (e.g. '1:2')"
        ) from None
    if text_span < 1 or speech_span < 1:
        raise CheckpointError(f"config.json: interleave_strategy {strategy!r} needs two positive spans")
    return text_span, speech_span


def parse_kernel_sizes(sizes: str) -> tuple[int, ...]:
    try:
        kernels = tuple(int(k) for k in str(sizes).split(","))
    except ValueError:
        raise CheckpointError(f"config.json: conv_kernel_sizes {sizes!r} is not a comma-separated list") from None
    if not kernels or len(kernels) > 8 or any(k < 1 or k > 1023 or k % 2 == 0 for k in kernels):
        raise CheckpointError(f"config.json: conv_kernel_sizes {sizes!r} must be odd positive integers")
    return kernels


def _sub_config(raw: dict[str, Any], key: str, types: dict[str, type], default_type: str) -> PretrainedConfig:
    sub = raw.get(key)
    if not isinstance(sub, dict):
        raise CheckpointError(f"config.json: '{key}' is missing or not an object; is this an OpenS2S checkpoint?")
    sub = {k: v for k, v in sub.items() if k not in RUNTIME_KEYS}
    model_type = sub.pop("model_type", default_type) or default_type
    if not isinstance(model_type, str) or model_type not in types:
        raise CheckpointError(
            f"config.json: {key}.model_type {model_type!r} is not supported (expected one of {sorted(types)})"
        )
    sub = checked_raw_sub_config(f"config.json: {key}", sub, audio=key == "audio_encoder_config")
    try:
        return types[model_type](**sub)
    except (TypeError, ValueError, KeyError, AttributeError, StrictDataclassError) as err:
        first = " ".join(str(err).split())[:200]
        raise CheckpointError(f"config.json: {key} is invalid ({type(err).__name__}: {first})") from None


@dataclass(frozen=True)
class OpenS2SConfig:
    """Architecture of one OpenS2S checkpoint."""

    audio_encoder: Qwen2AudioEncoderConfig
    llm: PretrainedConfig
    tts_lm: PretrainedConfig
    conv_kernel_sizes: tuple[int, ...]
    adapter_inner_dim: int
    text_span: int
    speech_span: int

    def __post_init__(self) -> None:
        if self.adapter_inner_dim < 1:
            raise CheckpointError("config.json: adapter_inner_dim must be positive")
        if self.text_span < 1 or self.speech_span < 1:
            raise CheckpointError("config.json: interleave spans must be positive")

    @property
    def interleave_strategy(self) -> str:
        return f"{self.text_span}:{self.speech_span}"

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> OpenS2SConfig:
        top_type = raw.get("model_type", "")
        if top_type not in ACCEPTED_TOP_LEVEL_TYPES:
            raise CheckpointError(
                f"config.json describes a {top_type!r} model, not OpenS2S; point to an OpenS2S checkpoint directory"
            )
        if raw.get("lora_config"):
            raise CheckpointError(
                "config.json has a lora_config: merge the LoRA weights into the LLM before loading (unmerged LoRA "
                "checkpoints are not supported)"
            )
        check_dtype_name("config.json: torch_dtype", raw.get("torch_dtype"))
        text_span, speech_span = parse_interleave(raw.get("interleave_strategy", DEFAULT_INTERLEAVE_STRATEGY))
        audio = _sub_config(raw, "audio_encoder_config", AUDIO_ENCODER_TYPES, "qwen2_audio_encoder")
        llm = _sub_config(raw, "llm_config", CAUSAL_LM_TYPES, "qwen3")
        tts_lm = _sub_config(raw, "tts_lm_config", CAUSAL_LM_TYPES, "qwen3")
        check_audio_encoder("config.json: audio_encoder_config", audio)
        check_transformer("config.json: llm_config", llm)
        check_transformer("config.json: tts_lm_config", tts_lm)
        return cls(
            audio_encoder=audio,
            llm=llm,
            tts_lm=tts_lm,
            conv_kernel_sizes=parse_kernel_sizes(raw.get("conv_kernel_sizes", DEFAULT_CONV_KERNEL_SIZES)),
            adapter_inner_dim=check_int("config.json: adapter_inner_dim",
                                        raw.get("adapter_inner_dim", DEFAULT_ADAPTER_INNER_DIM), 1, MAX_WIDTH),
            text_span=text_span,
            speech_span=speech_span,
        )

    @classmethod
    def from_dir(cls, checkpoint_dir: str | Path) -> OpenS2SConfig:
        path = Path(checkpoint_dir) / CONFIG_FILE
        if not path.exists():
            raise CheckpointError(f"{path} not found: choose the OpenS2S checkpoint directory (it has config.json)")
        raw = read_json(path)
        if not isinstance(raw, dict):
            raise CheckpointError(f"{path} is not a JSON object; re-download the checkpoint")
        return cls.from_dict(raw)

    def to_dict(self) -> dict[str, Any]:
        """The released layout (written by transformers 4.5x): nested full sub-config dicts, `rope_theta` and
        `torch_dtype` keys, and an empty top-level model type."""
        return {
            "architectures": ["OmniSpeechModel"],
            "model_type": "",
            "audio_encoder_config": released_sub_config(self.audio_encoder),
            "llm_config": released_sub_config(self.llm),
            "tts_lm_config": released_sub_config(self.tts_lm),
            "lora_config": None,
            "conv_kernel_sizes": ",".join(str(k) for k in self.conv_kernel_sizes),
            "adapter_inner_dim": self.adapter_inner_dim,
            "interleave_strategy": self.interleave_strategy,
            "torch_dtype": "bfloat16",
        }


def released_sub_config(config: PretrainedConfig) -> dict[str, Any]:
    """A sub-config as transformers 4.5x serialized it (what the released config.json holds)."""
    d = config.to_dict()
    rope = d.pop("rope_parameters", None)
    if rope is not None:
        d["rope_theta"] = rope["rope_theta"]
        extra = {k: v for k, v in rope.items() if k != "rope_theta"}
        d["rope_scaling"] = None if extra.get("rope_type", "default") == "default" else extra
    d["torch_dtype"] = d.pop("dtype", None)
    d.pop("layer_types", None)
    d["transformers_version"] = "4.51.0"
    return d
