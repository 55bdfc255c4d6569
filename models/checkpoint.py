"""Load a released OpenS2S checkpoint directory unchanged: weights, tokenizers, feature extractor, generation configs.

Weights come only from safetensors (single `model.safetensors` or sharded `model-*.safetensors` + index). Loading is
strict: every missing, unexpected or mis-shaped tensor is reported in one `CheckpointError`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from huggingface_hub.errors import StrictDataclassError
from safetensors import SafetensorError, safe_open
from transformers import GenerationConfig, PreTrainedTokenizerBase, WhisperFeatureExtractor

from models.adapter import adapter_base, apply_adapter, is_adapter_dir
from models.config import OpenS2SConfig
from models.config_checks import check_generation
from models.errors import CheckpointError, allocation_failure
from models.json_file import read_json, unreadable
from models.opens2s import OpenS2SModel
from models.quantize import StreamingQuantizer
from models.tensor_checks import dtype_problem, is_finite, refuse_nonfinite
from models.tokenizer_files import load_tokenizer
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
        doc = read_json(index)
        weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
            raise CheckpointError(f"{index} has no weight_map of key -> shard file name; re-download it")
        names = sorted(set(weight_map.values()))
        outside = [n for n in names if Path(n).name != n or n in ("", ".", "..")]
        if outside:
            raise CheckpointError(f"{index} names shard(s) outside the checkpoint folder: {_describe(outside)}")
        files = [checkpoint_dir / name for name in names]
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


def _readable(path: Path) -> None:
    """Open and read the first bytes ourselves: an unreadable file (permissions, I/O) is told apart from a corrupt
    one (safetensors reports both as its own error)."""
    try:
        with open(path, "rb") as fh:
            fh.read(8)
    except OSError as err:
        raise unreadable(path, err) from None


def iter_tensors(files: list[Path], device: torch.device) -> Iterator[tuple[str, torch.Tensor]]:
    for path in files:
        _readable(path)
        try:
            with safe_open(str(path), framework="pt", device=str(device)) as f:
                for key in f.keys():
                    yield key, f.get_tensor(key)
        except OSError as err:
            if allocation_failure(err):
                raise
            raise unreadable(path, err) from None
        except (SafetensorError, ValueError) as err:
            first = " ".join(str(err).split())[:200]
            raise CheckpointError(f"{path} is corrupt or truncated ({first}); re-download it") from None


def _describe(keys: list[str]) -> str:
    shown = ", ".join(keys[:MAX_LISTED_KEYS])
    return shown + (f" (+{len(keys) - MAX_LISTED_KEYS} more)" if len(keys) > MAX_LISTED_KEYS else "")


def load_weights_strict(model: torch.nn.Module, files: list[Path], dtype: torch.dtype, device: torch.device,
                        where: str, consume: Callable[[str, torch.Tensor], bool] | None = None) -> None:
    """Fill a meta-device `model` from safetensors straight onto `device`; raise one error naming every bad key.

    `consume(key, tensor)`, if given, sees every well-shaped tensor first (in the compute dtype, on `device`); when
    it returns True it has placed the tensor in the model itself (e.g. quantized it at once) and the tensor is not
    kept for the final assignment."""
    params = model.state_dict()
    expected = {k: tuple(v.shape) for k, v in params.items()}
    tied = _tied_keys(model)
    state: dict[str, torch.Tensor] = {}
    consumed: set[str] = set()
    unexpected, mismatched, wrong_dtype, nonfinite = [], [], [], []
    for key, tensor in iter_tensors(files, device):
        if key not in expected:
            unexpected.append(key)
        elif tuple(tensor.shape) != expected[key]:
            mismatched.append(f"{key} {list(tensor.shape)} != expected {list(expected[key])}")
        elif problem := dtype_problem(key, tensor, params[key].dtype):
            wrong_dtype.append(problem)
        else:
            tensor = tensor.to(dtype) if tensor.is_floating_point() else tensor
            if not is_finite(tensor):  # after the cast: a float32 value past bfloat16's range is infinite
                nonfinite.append(key)
            elif consume is not None and consume(key, tensor):
                consumed.add(key)
            else:
                state[key] = tensor
        del tensor  # a consumed full-precision tensor must not outlive its quantization
    refuse_nonfinite(where, nonfinite)
    missing = [k for k in expected if k not in state and k not in consumed and k not in tied
               and k not in nonfinite and not any(p.startswith(k + " ") for p in wrong_dtype)]
    problems = []
    if missing:
        problems.append(f"missing {_describe(missing)}")
    if unexpected:
        problems.append(f"unexpected {_describe(unexpected)}")
    if mismatched:
        problems.append(f"wrong shape {_describe(mismatched)}")
    if wrong_dtype:
        problems.append(f"wrong dtype {_describe(wrong_dtype)}")
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


def _load_generation_config(path: Path) -> GenerationConfig:
    file = path / "generation_config.json"
    if not file.is_file():
        log.info("%s has no generation_config.json; using transformers defaults", path)
        return GenerationConfig()
    raw = read_json(file)
    if not isinstance(raw, dict):
        raise CheckpointError(f"{file} is not a JSON object; re-download the checkpoint")
    check_generation(str(file), raw)  # before transformers, which refuses some wrong types its own way
    try:
        gen = GenerationConfig.from_pretrained(str(path))
    except (OSError, ValueError, TypeError, KeyError, AttributeError, StrictDataclassError) as err:
        raise CheckpointError(f"{file} is invalid ({' '.join(str(err).split())[:200]})") from None
    check_generation(str(file), gen)
    return gen


def _load_feature_extractor(path: Path) -> WhisperFeatureExtractor:
    file = path / "preprocessor_config.json"
    if not file.is_file():
        raise CheckpointError(f"{file} not found: the checkpoint's audio/ folder is missing")
    if not isinstance(read_json(file), dict):
        raise CheckpointError(f"{file} is not a JSON object; re-download the checkpoint")
    try:
        fe = WhisperFeatureExtractor.from_pretrained(str(path))
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
        raise CheckpointError(f"{path}: the audio feature extractor cannot be loaded ({err})") from None
    return fe


def _build(config: OpenS2SConfig, where: Path) -> OpenS2SModel:
    """The model on the meta device; config values transformers refuses only here become one line."""
    try:
        with torch.device("meta"):
            return OpenS2SModel(config)
    except (KeyError, ValueError, TypeError, AttributeError, ZeroDivisionError) as err:
        first = " ".join(str(err).split())[:200]
        raise CheckpointError(f"{where / 'config.json'} describes a model that cannot be built "
                              f"({type(err).__name__}: {first})") from None


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
    try:
        return _load_checkpoint(root, device, dtype, weights)
    except (OSError, RuntimeError) as err:
        if allocation_failure(err):  # one kind of error for every way of running out, so front ends say so
            raise MemoryError(f"not enough memory to load {root}") from err
        if isinstance(err, OSError):  # a folder or file that exists but cannot be read (permissions, I/O)
            raise unreadable(root, err) from None
        raise


def _load_checkpoint(root: Path, device: torch.device, dtype: torch.dtype,
                     weights: WeightsOption) -> OpenS2SCheckpoint:
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
    tokenizer = load_tokenizer(root, "LLM", chat=True)
    tts_tokenizer = load_tokenizer(root / TTS_SUBDIR, "TTS")
    model = _build(config, root)
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
