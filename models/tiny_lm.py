"""A seeded tiny random Qwen3 causal LM with a real byte-level BPE tokenizer and chat template, saved as
safetensors in the standard Hugging Face folder layout (what `make-data` loads as its dialogue writer)."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

from models.special_tokens import END_OF_TEXT, IM_END
from models.tiny_tokenizers import make_llm_tokenizer

TINY_LM_WEIGHT_STD = 0.05


def make_tiny_causal_lm(out_dir: str | Path, seed: int = 0, hidden: int = 32, layers: int = 2) -> Path:
    """Write a tiny random Qwen3ForCausalLM + tokenizer to `out_dir`; returns the folder."""
    out = Path(out_dir)
    vocab = make_llm_tokenizer(out)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(out))
    config = Qwen3Config(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, head_dim=hidden // 4, max_position_embeddings=2048,
        tie_word_embeddings=True, eos_token_id=tok.convert_tokens_to_ids(IM_END),
        pad_token_id=tok.convert_tokens_to_ids(END_OF_TEXT), bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, TINY_LM_WEIGHT_STD)
    model.generation_config = GenerationConfig(eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id)
    model.save_pretrained(str(out), safe_serialization=True)
    return out
