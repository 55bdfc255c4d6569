"""Streaming detokenization equals a full decode and never emits half a character."""

from __future__ import annotations

from transformers import AutoTokenizer

from core.lm.detokenize import REPLACEMENT_CHAR, IncrementalDetokenizer


def test_incremental_equals_full_decode_and_is_utf8_safe(tiny_checkpoint):
    tok = AutoTokenizer.from_pretrained(str(tiny_checkpoint))
    text = "Hi 😀 中文 Ünïcödé <|im_tts_end|> done"
    ids = tok.encode(text)
    detok = IncrementalDetokenizer(tok)
    pieces = [detok.push([i]) for i in ids] + [detok.flush()]
    assert "".join(pieces) == tok.decode(ids, skip_special_tokens=True)
    assert "<|im_tts_end|>" not in "".join(pieces)
    assert all(REPLACEMENT_CHAR not in p for p in pieces)
    multi_byte_tokens = sum(1 for p in pieces[:-1] if p == "")
    assert multi_byte_tokens > 0  # the emoji / CJK bytes really were split across tokens and held back
