"""Examples -> one padded batch, as the reference's `InstructionDataCollator` builds it.

Text: right-padded with the LLM pad id; token types and labels with -100. Audio: every clip of the batch in example
order, Whisper features padded to whole 30 s windows of the longest clip (the reference's extractor), plus the
frame mask. Units: every speech item in example order, padded with the TTS pad id. Speaker embeddings: one
[1, 512] row per speech item (`.npy` of 512 values, or zeros).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.audio.clips import MODEL_RATE_HZ, WINDOW_SAMPLES
from core.training.encode import IGNORE_INDEX, Example, read_training_audio
from models.errors import AudioInputError
from models.opens2s import SPEAKER_EMBED_DIM


@dataclass
class Batch:
    input_ids: torch.Tensor  # [B, L] long, AUDIO_TOKEN_INDEX at clip slots, pad id after each row
    attention_mask: torch.Tensor  # [B, L] long
    token_types: torch.Tensor  # [B, L] long: 1 inside <|im_tts_start|>..<|im_tts_end|>, -100 padding
    labels: torch.Tensor  # [B, L] long
    speech_values: torch.Tensor | None  # [N_clips, 128, T] float, T a multiple of 3000
    speech_mask: torch.Tensor | None  # [N_clips, T] long
    units: torch.Tensor | None  # [N_speech, U] long (TTS ids, EOS included), TTS pad id after each row
    units_mask: torch.Tensor | None  # [N_speech, U] long
    spk_embs: torch.Tensor | None  # [N_speech, 1, 512] float
    line_nos: tuple[int, ...]

    def to(self, device: torch.device, dtype: torch.dtype) -> Batch:
        def mv(t: torch.Tensor | None) -> torch.Tensor | None:
            if t is None:
                return None
            return t.to(device, dtype) if t.is_floating_point() else t.to(device)
        return Batch(**{k: (mv(v) if isinstance(v, torch.Tensor) or v is None else v)
                        for k, v in self.__dict__.items()})

    @property
    def n_llm_targets(self) -> int:
        """Tokens the LLM loss averages over (labels shifted by one)."""
        return int((self.labels[:, 1:] != IGNORE_INDEX).sum())

    @property
    def n_tts_targets(self) -> int:
        """Units (+EOS) the TTS loss averages over (each sequence's first unit follows a hidden state)."""
        return 0 if self.units_mask is None else int(self.units_mask.sum())


def _pad(rows: list[tuple[int, ...]] | list[list[int]], value: int) -> torch.Tensor:
    out = torch.full((len(rows), max(len(r) for r in rows)), value, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out


def _speaker(path: Path | None) -> torch.Tensor:  # -> [1, 512]
    if path is None:
        return torch.zeros(1, SPEAKER_EMBED_DIM)
    try:
        emb = np.load(path, allow_pickle=False).astype(np.float32).reshape(-1)
    except (OSError, ValueError) as err:
        raise AudioInputError(f"{path}: speaker embedding unreadable ({err})") from None
    if emb.size != SPEAKER_EMBED_DIM:
        raise AudioInputError(f"{path}: speaker embedding has {emb.size} values, expected {SPEAKER_EMBED_DIM}")
    return torch.from_numpy(emb)[None]


class Collator:
    """Callable for a DataLoader: list[Example] -> Batch. Clips are read when the batch is built."""

    def __init__(self, feature_extractor, llm_pad_id: int, tts_pad_id: int):
        self.fe = feature_extractor
        self.llm_pad_id, self.tts_pad_id = llm_pad_id, tts_pad_id

    def features(self, clips: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        padded_len = -(-max(c.size for c in clips) // WINDOW_SAMPLES) * WINDOW_SAMPLES
        out = self.fe(clips, sampling_rate=MODEL_RATE_HZ, padding="max_length", max_length=padded_len,
                      truncation=True, return_attention_mask=True, return_tensors="np")
        return (torch.from_numpy(out["input_features"].astype(np.float32)),  # [N, 128, T]
                torch.from_numpy(out["attention_mask"].astype(np.int64)))  # [N, T]

    def __call__(self, examples: list[Example]) -> Batch:
        clips = []
        for ex in examples:
            for path in ex.audio:
                clip = read_training_audio(path)
                if clip is None:
                    raise AudioInputError(f"{path} became unreadable during training (line {ex.line_no})")
                clips.append(clip)
        values, mask = self.features(clips) if clips else (None, None)
        unit_rows = [u for ex in examples for u in ex.units]
        spk_paths = [s for ex in examples for s in ex.spk_embs]
        return Batch(
            input_ids=_pad([ex.input_ids for ex in examples], self.llm_pad_id),
            attention_mask=_pad([[1] * ex.n_tokens for ex in examples], 0),
            token_types=_pad([ex.token_types for ex in examples], IGNORE_INDEX),
            labels=_pad([ex.labels for ex in examples], IGNORE_INDEX),
            speech_values=values, speech_mask=mask,
            units=_pad(unit_rows, self.tts_pad_id) if unit_rows else None,
            units_mask=_pad([[1] * len(u) for u in unit_rows], 0) if unit_rows else None,
            spk_embs=torch.stack([_speaker(p) for p in spk_paths]) if spk_paths else None,
            line_nos=tuple(ex.line_no for ex in examples),
        )
