"""Small real byte-level BPE tokenizers in the released OpenS2S layout, built with `tokenizers` (no hub).

The LLM tokenizer is Qwen3-shaped: byte-level BPE, `<|endoftext|>`, `<|im_start|>`, `<|im_end|>`, `<think>`,
`</think>`, the four OpenS2S markers as additional special tokens, and a Qwen3-style chat template honouring
`enable_thinking`. The TTS tokenizer adds `<|audio_0|>`..`<|audio_{N-1}|>` as contiguous ids.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from models.special_tokens import END_OF_TEXT, IM_END, IM_START, OPENS2S_ADDED_TOKENS, UNIT_TOKEN_FORMAT

# Qwen3-style template: system/user/assistant blocks; the generation prompt gets an empty think block when
# enable_thinking is false (as Qwen3's own template does).
QWEN3_STYLE_CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}"
    "{%- endif %}"
)

TRAINING_TEXT = (
    "You are a helpful assistant. Hello! How are you today? I am fine, thank you. "
    "I feel a little sad, can you cheer me up? Of course, I'm here for you. The weather is lovely. "
    "Tell me a story about a cat and a dog who became friends. Numbers 0 1 2 3 4 5 6 7 8 9. "
    "Ünïcödé tëxt, emoji 😀 and 中文 characters test the byte fallback. "
    "assistant user system think\n\n"
)


def _byte_level_bpe(vocab_size: int, specials: list[str]) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator([TRAINING_TEXT] * 4, trainer=trainer)
    return tok


# What the released tokenizer_config.json files name; loads in transformers 4.x and 5.x alike.
RELEASED_TOKENIZER_CLASS = "Qwen2Tokenizer"


def _added_entry(content: str, special: bool) -> dict:
    return {"content": content, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
            "special": special}


def save_released_layout(tok: Tokenizer, out_dir: Path, specials: list[str], extra_special: list[str],
                         chat_template: str | None) -> None:
    """Write the files a Qwen2/Qwen3 release has: tokenizer.json, vocab.json, merges.txt, added_tokens.json and a
    4.x-style tokenizer_config.json (added_tokens_decoder, additional_special_tokens, inline chat template)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tok.save(str(out_dir / "tokenizer.json"))
    tok.model.save(str(out_dir))  # vocab.json + merges.txt
    added = {t.content: i for i, t in sorted(tok.get_added_tokens_decoder().items())}
    special_set = set(specials) | set(extra_special)
    config = {
        "add_bos_token": False, "add_prefix_space": False,
        "added_tokens_decoder": {str(i): _added_entry(c, c in special_set) for c, i in added.items()},
        "additional_special_tokens": list(extra_special), "bos_token": None,
        "clean_up_tokenization_spaces": False, "eos_token": IM_END, "errors": "replace",
        "model_max_length": 131072, "pad_token": END_OF_TEXT, "split_special_tokens": False,
        "tokenizer_class": RELEASED_TOKENIZER_CLASS, "unk_token": None,
    }
    if chat_template:
        config["chat_template"] = chat_template
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False), "utf-8")
    (out_dir / "added_tokens.json").write_text(json.dumps(added, indent=2, ensure_ascii=False), "utf-8")


BASE_SPECIALS = [END_OF_TEXT, IM_START, IM_END]


def make_llm_tokenizer(out_dir: Path, vocab_size: int = 600) -> int:
    """Write the LLM tokenizer; returns its length (the LLM vocabulary size)."""
    tok = _byte_level_bpe(vocab_size, BASE_SPECIALS)
    tok.add_tokens(["<think>", "</think>"])
    tok.add_special_tokens(list(OPENS2S_ADDED_TOKENS))
    save_released_layout(tok, out_dir, BASE_SPECIALS, list(OPENS2S_ADDED_TOKENS), QWEN3_STYLE_CHAT_TEMPLATE)
    return tok.get_vocab_size(with_added_tokens=True)


def make_tts_tokenizer(out_dir: Path, n_units: int, vocab_size: int = 300) -> int:
    """Write the TTS tokenizer with contiguous unit tokens; returns its length (the TTS vocabulary size)."""
    tok = _byte_level_bpe(vocab_size, BASE_SPECIALS)
    tok.add_tokens([UNIT_TOKEN_FORMAT.format(i) for i in range(n_units)])
    save_released_layout(tok, out_dir, BASE_SPECIALS, [], None)
    return tok.get_vocab_size(with_added_tokens=True)
