"""Load a released OpenS2S checkpoint directory unchanged: weights, tokenizers, feature extractor, generation configs.

Weights come only from safetensors (single `model.safetensors` or sharded `model-*.safetensors` + index). Loading is
strict: every missing, unexpected or mis-shaped tensor is reported in one `CheckpointError`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from transformers import AutoTokenizer, GenerationConfig, PreTrainedTokenizerBase, WhisperFeatureExtractor

from models.adapter import adapter_base, apply_adapter, is_adapter_dir
from models.config import OpenS2SConfig
from models.errors import CheckpointError
from models.opens2s import OpenS2SModel
from models.quantize import StreamingQuantizer
from models.weights import WeightsOption

log = logging.getLogger(__name__)

SINGLE_WEIGHTS_FILE = "model.safetensors"
SHARD_INDEX_FILE = "model.safetensors.index.json"
TTS_SUBDIR = "tts"
AUDIO_SUBDIR = "audio"
MAX_LISTED_KEYS = 8


@dataclass(frozen=True)
class OpenS2SCheckpoint:
    """Everything loaded from one checkpoint directory."""

    path: Path
    config: OpenS2SConfig
    model: OpenS2SModel
    tokenizer: PreTrainedTokenizerBase
    tts_tokenizer: PreTrainedTokenizerBase
    feature_extractor: WhisperFeatureExtractor
    generation_config: GenerationConfig
    tts_generation_config: GenerationConfig


def weight_files(checkpoint_dir: Path) -> list[Path]:
    """The safetensors files of a checkpoint: the shards named by the index, or the single file."""
    index = checkpoint_dir / SHARD_INDEX_FILE
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise CheckpointError(f"{index} is unreadable ({err}); re-download the checkpoint") from None
        files = [checkpoint_dir / name for name in sorted(set(weight_map.values()))]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise CheckpointError(f"{checkpoint_dir}: weight shard(s) {', '.join(missing)} missing; re-download")
        return files
    single = checkpoint_dir / SINGLE_WEIGHTS_FILE
    if single.is_file():
        return [single]
    shards = sorted(checkpoint_dir.glob("model-*.safetensors"))
    if shards:
        raise CheckpointError(f"{checkpoint_dir}: found weight shards but no {SHARD_INDEX_FILE}; re-download it")
    if any(checkpoint_dir.glob("*.bin")) or any(checkpoint_dir.glob("*.pt")):
        raise CheckpointError(f"{checkpoint_dir}: only pickle weights found; OpenS2S Companion loads safetensors only")
    raise CheckpointError(
        f"{checkpoint_dir}: no {SINGLE_WEIGHTS_FILE} or {SHARD_INDEX_FILE}; is the download complete?")


def iter_tensors(files: list[Path], device: torch.device) -> Iterator[tuple[str, torch.Tensor]]:
    for path in files:
        try:
            with safe_open(str(path), framework="pt", device=str(device)) as f:
                for key in f.keys():
                    yield key, f.get_tensor(key)
        except (SafetensorError, OSError, ValueError) as err:
            raise CheckpointError(f"{path} is corrupt or truncated ({err}); re-download it") from None


def _describe(keys: list[str]) -> str:
    shown = ", ".join(keys[:MAX_LISTED_KEYS])
    return shown + (f" (+{len(keys) - MAX_LISTED_KEYS} more)" if len(keys) > MAX_LISTED_KEYS else "")


def load_weights_strict(model: torch.nn.Module, files: list[Path], dtype: torch.dtype, device: torch.device,
                        where: str, consume: Callable[[str, torch.Tensor], bool] | None = None) -> None:
    """Fill a meta-device `model` from safetensors straight onto `device`; raise one error naming every bad key.

    `consume(key, tensor)`, if given, sees every well-shaped tensor first (in the compute dtype, on `device`); when
    it returns True it has placed the tensor in the model itself (e.g. quantized it at once) and the tensor is not
    kept for the final assignment."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    tied = _tied_keys(model)
    state: dict[str, torch.Tensor] = {}
    consumed: set[str] = set()
    unexpected, mismatched = [], []
    for key, tensor in iter_tensors(files, device):
        if key not in expected:
            unexpected.append(key)
        elif tuple(tensor.shape) != expected[key]:
            mismatched.append(f"{key} {list(tensor.shape)} != expected {list(expected[key])}")
        else:
            tensor = tensor.to(dtype) if tensor.is_floating_point() else tensor
            if consume is not None and consume(key, tensor):
                consumed.add(key)
            else:
                state[key] = tensor
        del tensor  # a consumed full-precision tensor must not outlive its quantization
    missing = [k for k in expected if k not in state and k not in consumed and k not in tied]
    problems = []
    if missing:
        problems.append(f"missing {_describe(missing)}")
    if unexpected:
        problems.append(f"unexpected {_describe(unexpected)}")
    if mismatched:
        problems.append(f"wrong shape {_describe(mismatched)}")
    if problems:
        raise CheckpointError(f"{where}: weights do not match config.json: " + "; ".join(problems))
    model.load_state_dict(state, strict=False, assign=True)
    _retie_missing_heads(model, set(tied) - set(state), where)


def _tied_lms(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """LM output-head keys that may be omitted from the file because the config ties them to the embeddings."""
    lms = {"llm_model.lm_head.weight": model.llm_model, "tts_lm_model.lm_head.weight": model.tts_lm_model}
    return {k: lm for k, lm in lms.items() if getattr(lm.config, "tie_word_embeddings", False)}


def _tied_keys(model: torch.nn.Module) -> set[str]:
    return set(_tied_lms(model))


def _retie_missing_heads(model: torch.nn.Module, missing: set[str], where: str) -> None:
    """Tie omitted heads to the input embeddings, as the config says. (The reference leaves an omitted tied TTS
    head freshly initialised; a head present in the file is used as stored, as the reference does.)"""
    for key, lm in _tied_lms(model).items():
        if key in missing:
            lm.lm_head.weight = lm.get_input_embeddings().weight
            log.debug("%s: %s tied to the input embedding", where, key)


def _materialize_buffers(model: OpenS2SModel, device: torch.device) -> None:
    """Rebuild non-persistent buffers (rotary inverse frequencies) that were left on the meta device."""
    for lm in (model.llm_model, model.tts_lm_model):
        with torch.device(device):
            lm.model.rotary_emb = type(lm.model.rotary_emb)(lm.config)
    leftover = [n for n, b in model.named_buffers() if b.is_meta]
    if leftover:
        raise CheckpointError(f"internal: buffers not materialized after load: {_describe(leftover)}")


def _load_tokenizer(path: Path, what: str) -> PreTrainedTokenizerBase:
    if not path.is_dir():
        raise CheckpointError(f"{path} not found: the checkpoint needs its {what} tokenizer there")
    try:
        return AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise CheckpointError(f"{path}: the {what} tokenizer cannot be loaded ({err})") from None


def _load_generation_config(path: Path) -> GenerationConfig:
    if not (path / "generation_config.json").is_file():
        log.info("%s has no generation_config.json; using transformers defaults", path)
        return GenerationConfig()
    try:
        gen = GenerationConfig.from_pretrained(str(path))
    except (OSError, ValueError, TypeError) as err:
        raise CheckpointError(f"{path / 'generation_config.json'} is invalid ({err})") from None
    from models.config_checks import check_generation

    check_generation(str(path / "generation_config.json"), gen)
    return gen


def _load_feature_extractor(path: Path) -> WhisperFeatureExtractor:
    if not (path / "preprocessor_config.json").is_file():
        raise CheckpointError(
            f"{path / 'preprocessor_config.json'} not found: the checkpoint's audio/ folder is missing")
    try:
        fe = WhisperFeatureExtractor.from_pretrained(str(path))
    except (OSError, ValueError, TypeError) as err:
        raise CheckpointError(f"{path}: the audio feature extractor cannot be loaded ({err})") from None
    return fe


def _load_with_adapter(folder: Path, device: torch.device, dtype: torch.dtype,
                       weights: WeightsOption) -> OpenS2SCheckpoint:
    """An adapter folder: its base checkpoint with the LoRA merged in (full-precision weights only)."""
    if weights.quantized:
        raise CheckpointError(f"{folder} is a LoRA adapter: load it with full weights (merge it into a checkpoint "
                              "with `train` to quantize)")
    ckpt = load_checkpoint(adapter_base(folder), device, dtype)
    apply_adapter(ckpt.model, folder)
    return replace(ckpt, path=folder)


def load_checkpoint(checkpoint_dir: str | Path, device: torch.device, dtype: torch.dtype,
                    weights: WeightsOption | None = None) -> OpenS2SCheckpoint:
    """`weights`: full precision (default) or quantized LM blocks, quantized layer by layer while loading."""
    weights = weights or WeightsOption()
    root = Path(checkpoint_dir).expanduser()
    if is_adapter_dir(root):
        return _load_with_adapter(root, device, dtype, weights)
    if not root.is_dir():
        raise CheckpointError(f"{root} is not a directory: choose the folder that holds the OpenS2S config.json")
    config = OpenS2SConfig.from_dir(root)
    files = weight_files(root)
    feature_extractor = _load_feature_extractor(root / AUDIO_SUBDIR)
    if feature_extractor.feature_size != config.audio_encoder.num_mel_bins:
        raise CheckpointError(
            f"{root / AUDIO_SUBDIR}: feature_size {feature_extractor.feature_size} != encoder num_mel_bins "
            f"{config.audio_encoder.num_mel_bins}"
        )
    tokenizer = _load_tokenizer(root, "LLM")
    tts_tokenizer = _load_tokenizer(root / TTS_SUBDIR, "TTS")
    with torch.device("meta"):
        model = OpenS2SModel(config)
    quantizer = StreamingQuantizer(model, weights) if weights.quantized else None
    load_weights_strict(model, files, dtype, device, str(root), consume=quantizer.consume if quantizer else None)
    if quantizer:
        quantizer.finish(str(root))
    _materialize_buffers(model, device)
    model.eval().requires_grad_(False)
    log.info("loaded %s (%s, %s, weights %s)", root, device, dtype, weights.kind)
    return OpenS2SCheckpoint(
        path=root, config=config, model=model, tokenizer=tokenizer, tts_tokenizer=tts_tokenizer,
        feature_extractor=feature_extractor,
        generation_config=_load_generation_config(root),
        tts_generation_config=_load_generation_config(root / TTS_SUBDIR),
    )
