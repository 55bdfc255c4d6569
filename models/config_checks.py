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
    """generation_config.json: budgets, penalties and sampling values the decode loop uses."""
    if gen.max_new_tokens is not None:
        check_int(f"{where}: max_new_tokens", gen.max_new_tokens, 1, MAX_NEW_TOKENS)
    if gen.repetition_penalty is not None:
        check_float(f"{where}: repetition_penalty", gen.repetition_penalty, 0.0, 100.0, lo_open=True)
    if gen.temperature is not None:
        check_float(f"{where}: temperature", gen.temperature, 0.0, 100.0)
    if gen.top_p is not None:
        check_float(f"{where}: top_p", gen.top_p, 0.0, 1.0, lo_open=True)
    if gen.top_k is not None:
        check_int(f"{where}: top_k", gen.top_k, 0, MAX_VOCAB)
    eos = gen.eos_token_id
    for tok in eos if isinstance(eos, list) else ([] if eos is None else [eos]):
        check_int(f"{where}: eos_token_id", tok, 0, MAX_VOCAB)
