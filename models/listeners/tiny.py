"""Tiny random listener checkpoints (Whisper ASR, wav2vec2 SER, BERT text emotion), seeded, for tests.

Each is written with `save_pretrained` (safetensors) plus a real feature extractor / tokenizer, so the
listeners load them through the same `from_pretrained` path as real checkpoints. `scale="base"` writes the
real base-size architectures (random weights) for benchmarks: same compute, meaningless outputs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from models.rates import SPEECH_RATE_HZ

log = logging.getLogger(__name__)

EMOTION_LABELS = ("neutral", "happy", "sad", "angry")
ASR_DIR, SER_DIR, TEXT_DIR = "asr", "ser", "text_emotion"
SEED = 0
_CORPUS = (
    "hello how are you today",
    "i am fine thank you very much",
    "the weather is nice and sunny",
    "i feel so happy about this",
    "that is really sad news",
    "why are you so angry with me",
)
# Whisper's special tokens, appended after the regular vocabulary (as in the real one: timestamps must
# come after <|notimestamps|>, and ids above it are taken for timestamps by generate()).
_WHISPER_SPECIALS = (
    "<|endoftext|>",
    "<|startoftranscript|>",
    "<|en|>",
    "<|transcribe|>",
    "<|translate|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nocaptions|>",
    "<|notimestamps|>",
)
_BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


@dataclass(frozen=True)
class TinySizes:
    """Model widths; "tiny" for tests, "base" mirrors whisper-base / wav2vec2-base / distilroberta sizes."""

    asr_d_model: int
    asr_layers: int
    asr_heads: int
    asr_vocab: int  # BPE vocab before specials
    ser_hidden: int
    ser_layers: int
    ser_heads: int
    ser_conv_dim: int
    text_hidden: int
    text_layers: int
    text_heads: int
    text_vocab: int


SIZES = {
    "tiny": TinySizes(32, 1, 2, 300, 32, 2, 2, 32, 32, 2, 2, 200),
    "base": TinySizes(512, 6, 8, 51_855, 768, 12, 12, 512, 768, 6, 12, 30_000),
}


def write_tiny_listeners(
    out_dir: str | Path, *, scale: str = "tiny", labels=EMOTION_LABELS
) -> dict[str, Path]:
    """Write the three checkpoints under `out_dir` ({asr, ser, text_emotion} subdirs); returns their paths."""
    sizes = SIZES[scale]
    out = Path(out_dir)
    paths = {ASR_DIR: out / ASR_DIR, SER_DIR: out / SER_DIR, TEXT_DIR: out / TEXT_DIR}
    write_asr(paths[ASR_DIR], sizes)
    write_ser(paths[SER_DIR], sizes, labels)
    write_text_emotion(paths[TEXT_DIR], sizes, labels)
    return paths


def write_asr(path: Path, sizes: TinySizes) -> None:
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
    )

    tokenizer = _whisper_tokenizer(sizes.asr_vocab)
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in _WHISPER_SPECIALS}
    eos, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
    config = WhisperConfig(
        vocab_size=len(tokenizer),
        num_mel_bins=80,
        d_model=sizes.asr_d_model,
        encoder_layers=sizes.asr_layers,
        decoder_layers=sizes.asr_layers,
        encoder_attention_heads=sizes.asr_heads,
        decoder_attention_heads=sizes.asr_heads,
        encoder_ffn_dim=4 * sizes.asr_d_model,
        decoder_ffn_dim=4 * sizes.asr_d_model,
        max_source_positions=1500,  # 3000 mel frames = 30 s, as every Whisper
        max_target_positions=448,
        pad_token_id=eos,
        bos_token_id=eos,
        eos_token_id=eos,
        decoder_start_token_id=sot,
        suppress_tokens=None,
        begin_suppress_tokens=None,
    )
    torch.manual_seed(SEED)
    model = WhisperForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=sot,
        eos_token_id=eos,
        pad_token_id=eos,
        bos_token_id=eos,
        no_timestamps_token_id=ids["<|notimestamps|>"],
        is_multilingual=False,
        # like real Whisper configs: no special tokens inside the text, and never an empty transcript
        suppress_tokens=[i for tok, i in ids.items() if i != eos],
        begin_suppress_tokens=[eos],
    )
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    WhisperFeatureExtractor(feature_size=80, sampling_rate=SPEECH_RATE_HZ).save_pretrained(path)


def write_ser(path: Path, sizes: TinySizes, labels: Sequence[str] = EMOTION_LABELS) -> None:
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    n_conv = 7 if sizes.ser_conv_dim >= 512 else 3  # base: wav2vec2's 7 conv layers (320x downsampling)
    config = Wav2Vec2Config(
        hidden_size=sizes.ser_hidden,
        num_hidden_layers=sizes.ser_layers,
        num_attention_heads=sizes.ser_heads,
        intermediate_size=4 * sizes.ser_hidden,
        conv_dim=(sizes.ser_conv_dim,) * n_conv,
        conv_stride=(5, 2, 2, 2, 2, 2, 2)[:n_conv] if n_conv == 7 else (5, 4, 4),
        conv_kernel=(10, 3, 3, 3, 3, 2, 2)[:n_conv] if n_conv == 7 else (10, 4, 4),
        num_conv_pos_embeddings=128 if n_conv == 7 else 16,
        num_conv_pos_embedding_groups=16 if n_conv == 7 else 2,
        classifier_proj_size=256 if n_conv == 7 else 16,
        **_label_maps(labels),
    )
    torch.manual_seed(SEED)
    model = Wav2Vec2ForSequenceClassification(config).eval()
    _sharpen_head(model.classifier)
    model.save_pretrained(path)
    Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=SPEECH_RATE_HZ, padding_value=0.0, do_normalize=True, return_attention_mask=True
    ).save_pretrained(path)


def write_text_emotion(path: Path, sizes: TinySizes, labels: Sequence[str] = EMOTION_LABELS) -> None:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    tokenizer = _wordpiece_tokenizer(sizes.text_vocab)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=sizes.text_hidden,
        num_hidden_layers=sizes.text_layers,
        num_attention_heads=sizes.text_heads,
        intermediate_size=4 * sizes.text_hidden,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        **_label_maps(labels),
    )
    torch.manual_seed(SEED)
    model = BertForSequenceClassification(config).eval()
    _sharpen_head(model.classifier)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)


def _label_maps(labels: Sequence[str]) -> dict[str, dict]:
    id2label = {i: str(label) for i, label in enumerate(labels)}
    return {"id2label": id2label, "label2id": {label: i for i, label in id2label.items()}}


def _sharpen_head(linear) -> None:
    """Scale the random classifier so its labels differ by input (init std 0.02 gives near-uniform output)."""
    import torch

    with torch.no_grad():
        linear.weight.mul_(50.0)


def _whisper_tokenizer(vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    # show_progress=False: the trainer's bar writes blank lines to stdout when it is not a terminal
    tok.train_from_iterator(_CORPUS, trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=alphabet,
                                                         show_progress=False))
    if tok.get_vocab_size() < vocab_size:  # a tiny corpus cannot fill a big vocab: pad with unused tokens
        tok.add_tokens([f"<unused_{i}>" for i in range(vocab_size - tok.get_vocab_size())])
    tok.add_special_tokens(list(_WHISPER_SPECIALS))
    eos = "<|endoftext|>"
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=eos, eos_token=eos, unk_token=eos, pad_token=eos, model_max_length=448
    )


def _wordpiece_tokenizer(vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(
        _CORPUS, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(_BERT_SPECIALS),
                                           show_progress=False)
    )
    if tok.get_vocab_size() < vocab_size:
        tok.add_tokens([f"[unused{i}]" for i in range(vocab_size - tok.get_vocab_size())])
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
    )
