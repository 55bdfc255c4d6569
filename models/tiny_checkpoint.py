"""Seeded random-weight OpenS2S checkpoints in the exact released directory layout, for tests and offline demos.

Random weights speak gibberish: the point is that every file, key, tokenizer and config field is real, so the real
loading code path runs. Weights use a wide spread (std 0.2, noisy norm weights) so greedy decoding has clear margins
and wiring bugs move tokens.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import (
    AutoTokenizer,
    GenerationConfig,
    Qwen2AudioEncoderConfig,
    Qwen3Config,
    WhisperFeatureExtractor,
)

from models.checkpoint import AUDIO_SUBDIR, SHARD_INDEX_FILE, SINGLE_WEIGHTS_FILE, TTS_SUBDIR
from models.config import CONFIG_FILE, OpenS2SConfig, parse_interleave
from models.opens2s import OpenS2SModel
from models.special_tokens import END_OF_TEXT, IM_END, N_SPEECH_UNITS
from models.tiny_tokenizers import make_llm_tokenizer, make_tts_tokenizer

log = logging.getLogger(__name__)

WEIGHT_STD = 0.2
NORM_NOISE_STD = 0.1
WHISPER_MEL_BINS = 128
WHISPER_SOURCE_POSITIONS = 1500  # fixed by the 3000-frame (30 s) encoder window


@dataclass(frozen=True)
class TinySpec:
    """Sizes of a tiny checkpoint. `small()` gives realistic shape ratios that still run on 2 CPU cores."""

    enc_dim: int = 32
    enc_layers: int = 2
    enc_heads: int = 4
    llm_dim: int = 64
    llm_layers: int = 2
    llm_heads: int = 4
    llm_kv_heads: int = 2
    tts_dim: int = 48
    tts_layers: int = 2
    tts_heads: int = 4
    tts_kv_heads: int = 2
    adapter_inner_dim: int = 32
    n_units: int = N_SPEECH_UNITS
    interleave_strategy: str = "1:2"
    max_positions: int = 4096
    tie_tts_embeddings: bool = False

    def __post_init__(self) -> None:
        parse_interleave(self.interleave_strategy)
        for name in ("enc", "llm", "tts"):
            if getattr(self, f"{name}_dim") % getattr(self, f"{name}_heads"):
                raise ValueError(f"{name}_dim must be divisible by {name}_heads")

    @classmethod
    def small(cls) -> TinySpec:
        return cls(enc_dim=384, enc_layers=4, enc_heads=6, llm_dim=512, llm_layers=8, llm_heads=8, llm_kv_heads=2,
                   tts_dim=384, tts_layers=6, tts_heads=6, tts_kv_heads=2, adapter_inner_dim=256)


def _qwen3(dim: int, layers: int, heads: int, kv_heads: int, vocab: int, spec: TinySpec, tie: bool) -> Qwen3Config:
    return Qwen3Config(
        vocab_size=vocab, hidden_size=dim, intermediate_size=dim * 3, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=dim // heads,
        max_position_embeddings=spec.max_positions, rope_theta=1_000_000.0, rms_norm_eps=1e-6,
        tie_word_embeddings=tie, attention_bias=False, use_cache=True, torch_dtype="bfloat16",
    )


def tiny_config(spec: TinySpec, llm_vocab: int, tts_vocab: int) -> OpenS2SConfig:
    text_span, speech_span = parse_interleave(spec.interleave_strategy)
    encoder = Qwen2AudioEncoderConfig(
        d_model=spec.enc_dim, encoder_layers=spec.enc_layers, encoder_attention_heads=spec.enc_heads,
        encoder_ffn_dim=spec.enc_dim * 4, num_mel_bins=WHISPER_MEL_BINS,
        max_source_positions=WHISPER_SOURCE_POSITIONS, scale_embedding=False, activation_function="gelu",
    )
    return OpenS2SConfig(
        audio_encoder=encoder,
        llm=_qwen3(spec.llm_dim, spec.llm_layers, spec.llm_heads, spec.llm_kv_heads, llm_vocab, spec, False),
        tts_lm=_qwen3(spec.tts_dim, spec.tts_layers, spec.tts_heads, spec.tts_kv_heads, tts_vocab, spec,
                      spec.tie_tts_embeddings),
        conv_kernel_sizes=(5, 5), adapter_inner_dim=spec.adapter_inner_dim,
        text_span=text_span, speech_span=speech_span,
    )


def randomize_(model: torch.nn.Module, seed: int) -> None:
    """Wide random weights; norm weights around 1 with noise; the encoder's position table stays random too."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            if "norm" in name or name.endswith(("ln.weight", "_ln.weight", "layer_norm.weight")):
                if name.endswith("weight"):
                    p.copy_(1.0 + NORM_NOISE_STD * torch.randn(p.shape, generator=gen))
                else:
                    p.copy_(NORM_NOISE_STD * torch.randn(p.shape, generator=gen))
            else:
                std = WEIGHT_STD if p.dim() < 2 else min(WEIGHT_STD, 2.0 / math.sqrt(p.shape[-1]))
                p.copy_(std * torch.randn(p.shape, generator=gen))


def _save_weights(model: OpenS2SModel, out: Path, shards: int) -> None:
    state = {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}  # fp32: exact tests
    if model.config.tts_lm.tie_word_embeddings:
        state.pop("tts_lm_model.lm_head.weight", None)
    if shards <= 1:
        save_file(state, str(out / SINGLE_WEIGHTS_FILE), metadata={"format": "pt"})
        return
    keys = list(state)
    per = -(-len(keys) // shards)
    weight_map, total = {}, 0
    for i in range(shards):
        name = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = {k: state[k] for k in keys[i * per:(i + 1) * per]}
        save_file(part, str(out / name), metadata={"format": "pt"})
        weight_map.update({k: name for k in part})
        total += sum(t.numel() * t.element_size() for t in part.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (out / SHARD_INDEX_FILE).write_text(json.dumps(index, indent=2))


def make_tiny_checkpoint(out_dir: str | Path, spec: TinySpec | None = None, seed: int = 0, shards: int = 2) -> Path:
    """Write a random OpenS2S checkpoint to `out_dir` (created) and return its path."""
    spec = spec or TinySpec()
    out = Path(out_dir)
    (out / TTS_SUBDIR).mkdir(parents=True, exist_ok=True)
    (out / AUDIO_SUBDIR).mkdir(parents=True, exist_ok=True)
    llm_vocab = make_llm_tokenizer(out)
    tts_vocab = make_tts_tokenizer(out / TTS_SUBDIR, spec.n_units)
    tok, tts_tok = AutoTokenizer.from_pretrained(str(out)), AutoTokenizer.from_pretrained(str(out / TTS_SUBDIR))
    config = tiny_config(spec, llm_vocab=llm_vocab, tts_vocab=tts_vocab)
    model = OpenS2SModel(config)
    randomize_(model, seed)
    _save_weights(model, out, shards)
    (out / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2))
    GenerationConfig(
        do_sample=True, temperature=0.6, top_k=20, top_p=0.95, pad_token_id=tok.convert_tokens_to_ids(END_OF_TEXT),
        eos_token_id=[tok.convert_tokens_to_ids(IM_END), tok.convert_tokens_to_ids(END_OF_TEXT)],
    ).save_pretrained(str(out))
    GenerationConfig(
        eos_token_id=tts_tok.eos_token_id, pad_token_id=tts_tok.pad_token_id,
    ).save_pretrained(str(out / TTS_SUBDIR))
    WhisperFeatureExtractor(feature_size=WHISPER_MEL_BINS, return_attention_mask=True).save_pretrained(
        str(out / AUDIO_SUBDIR))
    log.info("wrote tiny OpenS2S checkpoint to %s", out)
    return out
