"""Range checks for the numbers in untrusted checkpoint files that drive allocation or loops.

config.json (layer / head / width counts of the three transformers), config.yaml (the decoder's depths and
widths), generation_config.json (token budgets, penalties, sampling values): each number is checked at load and
a bad one raises `CheckpointError` naming the file and key, before anything is allocated. The bounds are generous
(the released 8B model and decoder are far inside them); they stop zeros, negatives, infinities, NaN, nulls and
counts that would try to allocate terabytes.
"""

from __future__ import annotations

import math
from typing import Any

from models.errors import CheckpointError

MAX_LAYERS = 512
MAX_HEADS = 1024
MAX_WIDTH = 65536  # hidden / intermediate / channel sizes
MAX_VOCAB = 4_000_000
MAX_POSITIONS = 4_194_304
MAX_NEW_TOKENS = 1_000_000


def check_int(where: str, value: Any, lo: int, hi: int) -> int:
    """`value` as an int in [lo, hi] (an integral float such as 8.0 is accepted), else CheckpointError."""
    ok = isinstance(value, int) and not isinstance(value, bool)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value, ok = int(value), True
    if not ok or not lo <= value <= hi:
        raise CheckpointError(f"{where} = {value!r}: must be a whole number in [{lo}, {hi}]")
    return value


def check_float(where: str, value: Any, lo: float, hi: float, lo_open: bool = False) -> float:
    """`value` as a finite float in [lo, hi] ((lo, hi] with lo_open), else CheckpointError."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > lo if lo_open else value >= lo) and value <= hi
    if not ok:
        bracket = "(" if lo_open else "["
        raise CheckpointError(f"{where} = {value!r}: must be a finite number in {bracket}{lo}, {hi}]")
    return float(value)


def check_transformer(where: str, cfg: Any) -> None:
    """A transformers decoder config (Qwen2/Qwen3): counts, widths and head geometry."""
    layers = check_int(f"{where}.num_hidden_layers", cfg.num_hidden_layers, 1, MAX_LAYERS)
    heads = check_int(f"{where}.num_attention_heads", cfg.num_attention_heads, 1, MAX_HEADS)
    kv = check_int(f"{where}.num_key_value_heads", getattr(cfg, "num_key_value_heads", heads) or heads, 1, heads)
    hidden = check_int(f"{where}.hidden_size", cfg.hidden_size, 1, MAX_WIDTH)
    check_int(f"{where}.intermediate_size", cfg.intermediate_size, 1, 8 * MAX_WIDTH)
    check_int(f"{where}.vocab_size", cfg.vocab_size, 1, MAX_VOCAB)
    check_int(f"{where}.max_position_embeddings", cfg.max_position_embeddings, 1, MAX_POSITIONS)
    head_dim = getattr(cfg, "head_dim", None)
    if head_dim is not None:
        check_int(f"{where}.head_dim", head_dim, 1, MAX_WIDTH)
    elif hidden % heads:
        raise CheckpointError(f"{where}.hidden_size = {hidden} is not divisible by num_attention_heads = {heads}")
    if heads % kv:
        raise CheckpointError(f"{where}.num_attention_heads = {heads} is not a multiple of num_key_value_heads = {kv}")
    del layers


def check_audio_encoder(where: str, cfg: Any) -> None:
    """A Qwen2-Audio (Whisper-style) encoder config."""
    check_int(f"{where}.encoder_layers", cfg.encoder_layers, 1, MAX_LAYERS)
    heads = check_int(f"{where}.encoder_attention_heads", cfg.encoder_attention_heads, 1, MAX_HEADS)
    d_model = check_int(f"{where}.d_model", cfg.d_model, 1, MAX_WIDTH)
    check_int(f"{where}.encoder_ffn_dim", cfg.encoder_ffn_dim, 1, 8 * MAX_WIDTH)
    check_int(f"{where}.num_mel_bins", cfg.num_mel_bins, 1, 1024)
    check_int(f"{where}.max_source_positions", cfg.max_source_positions, 1, MAX_POSITIONS)
    if d_model % heads:
        raise CheckpointError(f"{where}.d_model = {d_model} is not divisible by encoder_attention_heads = {heads}")


def check_generation(where: str, gen: Any) -> None:
    """generation_config.json (its raw dict, or the GenerationConfig): the values the decode loop uses."""
    def get(key: str) -> Any:
        return gen.get(key) if isinstance(gen, dict) else getattr(gen, key, None)

    if get("max_new_tokens") is not None:
        check_int(f"{where}: max_new_tokens", get("max_new_tokens"), 1, MAX_NEW_TOKENS)
    if get("repetition_penalty") is not None:
        check_float(f"{where}: repetition_penalty", get("repetition_penalty"), 0.0, 100.0, lo_open=True)
    if get("temperature") is not None:
        check_float(f"{where}: temperature", get("temperature"), 0.0, 100.0)
    if get("top_p") is not None:
        check_float(f"{where}: top_p", get("top_p"), 0.0, 1.0, lo_open=True)
    if get("top_k") is not None:
        check_int(f"{where}: top_k", get("top_k"), 0, MAX_VOCAB)
    eos = get("eos_token_id")
    for tok in eos if isinstance(eos, list) else ([] if eos is None else [eos]):
        check_int(f"{where}: eos_token_id", tok, 0, MAX_VOCAB)


# --- raw JSON, before transformers sees it ------------------------------------------------------------------------
# transformers' config classes act on some values in their constructors (e.g. a `layer_types` list of
# num_hidden_layers entries, built before any range check could run), and raise their own exception types for a
# wrong type; so sizes, floats, activations and dtypes are checked on the raw JSON first.

MAX_JSON_DEPTH = 32  # the released config.json nests 3 levels
DTYPE_NAMES = frozenset({"float32", "float16", "bfloat16", "float64", "float", "half", "auto"})
ROPE_TYPES = frozenset({"default", "linear", "dynamic", "yarn", "longrope", "llama3"})

TRANSFORMER_INTS = {  # key: (lo, hi, may be null)
    "num_hidden_layers": (1, MAX_LAYERS, False),
    "num_attention_heads": (1, MAX_HEADS, False),
    "num_key_value_heads": (1, MAX_HEADS, True),
    "hidden_size": (1, MAX_WIDTH, False),
    "intermediate_size": (1, 8 * MAX_WIDTH, False),
    "vocab_size": (1, MAX_VOCAB, False),
    "max_position_embeddings": (1, MAX_POSITIONS, False),
    "head_dim": (1, MAX_WIDTH, True),
}
TRANSFORMER_FLOATS = {"rms_norm_eps": (0.0, 1.0), "rope_theta": (0.0, 1e12)}  # (lo, hi]
AUDIO_INTS = {
    "encoder_layers": (1, MAX_LAYERS, False),
    "encoder_attention_heads": (1, MAX_HEADS, False),
    "d_model": (1, MAX_WIDTH, False),
    "encoder_ffn_dim": (1, 8 * MAX_WIDTH, False),
    "num_mel_bins": (1, 1024, False),
    "max_source_positions": (1, MAX_POSITIONS, False),
}


def check_json_tree(where: str, tree: Any) -> None:
    """No value nested deeper than MAX_JSON_DEPTH, and no NaN / Infinity anywhere (json.loads accepts both)."""
    stack: list[tuple[str, Any, int]] = [("", tree, 0)]
    while stack:
        path, node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise CheckpointError(f"{where}: {path or 'the file'} is nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(node, float) and not math.isfinite(node):
            raise CheckpointError(f"{where}: {path} = {node!r}: must be a finite number")
        if isinstance(node, dict):
            stack.extend((f"{path}.{k}" if path else str(k), v, depth + 1) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((f"{path}[{i}]", v, depth + 1) for i, v in enumerate(node))


def _activation(where: str, value: Any) -> None:
    from transformers.activations import ACT2FN

    if not isinstance(value, str) or value not in ACT2FN:
        raise CheckpointError(f"{where} = {value!r}: not an activation this app knows "
                              f"(e.g. {', '.join(sorted(ACT2FN)[:6])}...)")


def check_dtype_name(where: str, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or value not in DTYPE_NAMES):
        raise CheckpointError(f"{where} = {value!r}: not a dtype name (one of {', '.join(sorted(DTYPE_NAMES))})")


def _rope(where: str, value: Any) -> None:
    if value is None:
        return
    kind = value.get("rope_type", value.get("type", "default")) if isinstance(value, dict) else None
    if kind not in ROPE_TYPES:
        raise CheckpointError(f"{where} = {value!r}: not a rope scaling this app knows "
                              f"({', '.join(sorted(ROPE_TYPES))})")


def checked_raw_sub_config(where: str, sub: dict[str, Any], audio: bool) -> dict[str, Any]:
    """A sub-config dict as checked data: sizes whole numbers in range (whole floats such as 64.0 become ints),
    floats finite and in range, a known activation, dtype and rope type. Raises CheckpointError naming the key."""
    out = dict(sub)
    for key, (lo, hi, nullable) in (AUDIO_INTS if audio else TRANSFORMER_INTS).items():
        if key in out and not (nullable and out[key] is None):
            out[key] = check_int(f"{where}.{key}", out[key], lo, hi)
    if not audio:
        for key, (lo, hi) in TRANSFORMER_FLOATS.items():
            if key in out:
                out[key] = check_float(f"{where}.{key}", out[key], lo, hi, lo_open=True)
        for key in ("rope_scaling", "rope_parameters"):
            if key in out:
                _rope(f"{where}.{key}", out[key])
    act_key = "activation_function" if audio else "hidden_act"
    if act_key in out:
        _activation(f"{where}.{act_key}", out[act_key])
    for key in ("torch_dtype", "dtype"):
        if key in out:
            check_dtype_name(f"{where}.{key}", out[key])
    return out
