"""Wiring shared by `loss` and `train`: a checkpoint's tokenizers -> encoded examples -> batches."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import torch

from core.training.collate import Batch, Collator
from core.training.data import load_dataset_file
from core.training.encode import ExampleEncoder, Limits, TrainingSet, build_training_set
from core.training.loss import batch_losses
from models.checkpoint import OpenS2SCheckpoint
from models.errors import CheckpointError, UserError
from models.special_tokens import UNIT_TOKEN_FORMAT

log = logging.getLogger(__name__)


def load_training_set(ckpt: OpenS2SCheckpoint, data: str | Path) -> TrainingSet:
    """Validate the jsonl against this checkpoint's codebook, encode it, and skip (counting) bad clips."""
    dataset = load_dataset_file(data, n_units=codebook_size(ckpt.tts_tokenizer))
    limits = Limits(max_tokens=ckpt.config.llm.max_position_embeddings,
                    max_units=ckpt.config.tts_lm.max_position_embeddings)
    out = build_training_set(dataset, ExampleEncoder(ckpt.tokenizer, ckpt.tts_tokenizer), limits=limits)
    if not out.examples:
        raise UserError(f"{data}: every example was skipped (unreadable or too-short audio); nothing to train on")
    return out


def codebook_size(tts_tokenizer) -> int:
    """How many contiguous <|audio_N|> tokens the TTS tokenizer has (16384 in the release)."""
    vocab = tts_tokenizer.get_vocab()
    n = 0
    while UNIT_TOKEN_FORMAT.format(n) in vocab:
        n += 1
    return n


def make_collator(ckpt: OpenS2SCheckpoint) -> Collator:
    llm_pad = ckpt.generation_config.pad_token_id
    if llm_pad is None:
        llm_pad = ckpt.tokenizer.pad_token_id
    tts_pad = ckpt.tts_generation_config.pad_token_id
    if tts_pad is None:
        tts_pad = ckpt.tts_tokenizer.pad_token_id
    if llm_pad is None or tts_pad is None:
        raise CheckpointError(f"{ckpt.path}: no pad token id in generation_config.json or the tokenizers (root "
                              "and tts/); training batches need one")
    return Collator(ckpt.feature_extractor, int(llm_pad), int(tts_pad))


def batches_in_order(examples, collator: Collator, batch_size: int) -> Iterator[Batch]:
    for i in range(0, len(examples), batch_size):
        yield collator(examples[i:i + batch_size])


@torch.no_grad()
def eval_losses(ckpt: OpenS2SCheckpoint, examples, batch_size: int, device: torch.device,
                dtype: torch.dtype) -> Iterator[dict]:
    """Per-batch reference losses in file order, eval mode, no gradients."""
    model = ckpt.model
    was_training = model.training
    model.eval()
    collator = make_collator(ckpt)
    try:
        for batch in batches_in_order(examples, collator, batch_size):
            sums = batch_losses(model, batch.to(device, dtype))
            yield {**sums.means(), "n_llm_tokens": sums.llm_count, "n_tts_tokens": sums.tts_count,
                   "lines": list(batch.line_nos)}
    finally:
        model.train(was_training)
