"""Validated jsonl examples -> token ids, token types and labels exactly as the reference's `process_dataset` builds
them (spec section 5), and the audio check that skips unreadable or too-short clips.

Each piece is encoded on its own, so BPE merges never cross piece boundaries:
    <|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n                      type 0, label -100
    per message: <|im_start|> role \\n [<think></think> for the assistant]               type 0, label -100
      audio item: <|im_audio_start|> -200 <|im_audio_end|>                              type 0, label -100
      speech item: <|im_tts_start|>{text}<|im_tts_end|>                                  type 1, labels = ids
      text item: {text}                                        type 0, labels = ids in assistant turns only
      <|im_end|>\\n                                            type 0, labels = ids in assistant turns only
TTS targets: the unit token ids (`<|audio_0|>` + unit) then the TTS EOS.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from core.audio.clips import MAX_DURATION_S, MODEL_RATE_HZ, probe_audio_file, resample, to_mono
from core.lm.runner import unit_offset
from core.training.data import ASSISTANT, DataError, DatasetFile, RawExample
from models.special_tokens import (
    AUDIO_END,
    AUDIO_START,
    AUDIO_TOKEN_INDEX,
    DEFAULT_SYSTEM_PROMPT,
    IM_END,
    IM_START,
    TTS_END,
    TTS_START,
)

log = logging.getLogger(__name__)

IGNORE_INDEX = -100
MIN_TRAIN_SAMPLES = 8000  # the reference drops examples with a clip shorter than 0.5 s at 16 kHz
NO_THINKING = "<think></think>"  # the training template's empty think block: no newlines (unlike inference)


@dataclass(frozen=True)
class Example:
    """One training example, ready to collate. `input_ids` holds AUDIO_TOKEN_INDEX where each clip goes."""

    line_no: int
    input_ids: tuple[int, ...]
    token_types: tuple[int, ...]
    labels: tuple[int, ...]
    audio: tuple[Path, ...]
    units: tuple[tuple[int, ...], ...]  # TTS token ids per speech item, EOS included
    spk_embs: tuple[Path | None, ...]  # per speech item; None = zeros, as the reference

    @property
    def n_tokens(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True)
class Limits:
    """Lengths one example may have, checked before its audio is read or its tensors are built."""

    max_tokens: int | None = None  # LLM positions (config llm.max_position_embeddings)
    max_units: int | None = None  # TTS positions (config tts_lm.max_position_embeddings)
    max_audio_s: float = MAX_DURATION_S


def audio_seconds(path: Path) -> float | None:
    """A clip's duration from its header alone (nothing is read), or None when the header is unreadable."""
    try:
        info = sf.info(str(path))
    except Exception as err:  # noqa: BLE001 - an unreadable clip is skipped and counted later, as before
        log.debug("%s: no audio header: %s", path, err)
        return None
    return info.frames / info.samplerate if info.samplerate > 0 else None


def check_lengths(raw: RawExample, where: str, limits: Limits) -> None:
    """One DataError naming the line for an example too long to train on (before anything is allocated for it)."""
    for m in raw.messages:
        for it in m.items:
            if limits.max_units and len(it.units) + 1 > limits.max_units:
                raise DataError(f"{where}: {len(it.units)} speech units in one item; the TTS LM takes at most "
                                f"{limits.max_units - 1} (split the reply)")
    for path in raw.audio_paths:
        seconds = audio_seconds(path)
        if seconds is not None and seconds > limits.max_audio_s:
            raise DataError(f"{where}: the clip {path} is {seconds:.0f} s long; the limit is "
                            f"{limits.max_audio_s:.0f} s (split it into shorter turns)")


@dataclass
class TrainingSet:
    """The usable examples of one file and what was skipped."""

    examples: list[Example]
    skipped_unreadable: list[int] = field(default_factory=list)  # line numbers
    skipped_short: list[int] = field(default_factory=list)

    @property
    def n_skipped(self) -> int:
        return len(self.skipped_unreadable) + len(self.skipped_short)


class ExampleEncoder:
    """Tokenizes validated examples with a checkpoint's LLM and TTS tokenizers."""

    def __init__(self, tokenizer, tts_tokenizer, system_prompt: str = DEFAULT_SYSTEM_PROMPT):
        self.tok = tokenizer
        self.unit_offset = unit_offset(tts_tokenizer)
        self.tts_eos = tts_tokenizer.eos_token_id
        self.system_prompt = system_prompt
        self._cache: dict[str, list[int]] = {}

    def _ids(self, text: str) -> list[int]:
        if text not in self._cache or len(self._cache) > 4096:
            ids = self.tok.encode(text, add_special_tokens=False)
            if len(self._cache) > 4096:
                return ids
            self._cache[text] = ids
        return self._cache[text]

    def encode(self, raw: RawExample) -> Example:
        ids: list[int] = []
        types: list[int] = []
        labels: list[int] = []

        def add(piece_ids: list[int], token_type: int, learn: bool) -> None:
            ids.extend(piece_ids)
            types.extend([token_type] * len(piece_ids))
            labels.extend(piece_ids if learn else [IGNORE_INDEX] * len(piece_ids))

        add(self._ids(IM_START) + self._ids("system") + self._ids("\n") + self._ids(self.system_prompt)
            + self._ids(f"{IM_END}\n"), 0, False)
        audio, units, spks = [], [], []
        for msg in raw.messages:
            assistant = msg.role == ASSISTANT
            add(self._ids(IM_START) + self._ids(msg.role) + self._ids("\n")
                + (self._ids(NO_THINKING) if assistant else []), 0, False)
            for item in msg.items:
                if item.kind == "audio":
                    add(self._ids(AUDIO_START) + [AUDIO_TOKEN_INDEX] + self._ids(AUDIO_END), 0, False)
                    audio.append(item.audio)
                elif item.kind == "speech":
                    add(self._ids(f"{TTS_START}{item.text}{TTS_END}"), 1, True)
                    units.append(tuple(self.unit_offset + u for u in item.units) + (self.tts_eos,))
                    spks.append(item.spk_emb)
                else:
                    add(self._ids(item.text), 0, assistant)
            add(self._ids(f"{IM_END}\n"), 0, assistant)
        return Example(line_no=raw.line_no, input_ids=tuple(ids), token_types=tuple(types), labels=tuple(labels),
                       audio=tuple(audio), units=tuple(units), spk_embs=tuple(spks))


def read_training_audio(path: Path) -> np.ndarray | None:
    """Mono float32 at 16 kHz, or None if the file cannot be decoded (no silence or length policy here)."""
    try:
        probe_audio_file(path)  # a device, pipe, folder or absurd header is refused before any read
        data, rate_hz = sf.read(str(path), dtype="float32", always_2d=True)  # [N, C]
        samples = resample(to_mono(data), rate_hz)
    except Exception as err:  # noqa: BLE001 - any decoder failure means "unreadable": skip and count
        log.debug("%s unreadable: %s", path, err)
        return None
    return samples if np.all(np.isfinite(samples)) else None


def build_training_set(dataset: DatasetFile, encoder: ExampleEncoder, check_audio: bool = True,
                       limits: Limits | None = None) -> TrainingSet:
    """Encode every example; drop (and count) those with an unreadable clip or one under 0.5 s. An example longer
    than `limits` is a DataError naming its line (checked from headers and counts, before any clip is read)."""
    out = TrainingSet(examples=[])
    limits = limits or Limits()
    for raw in dataset.examples:
        where = f"{dataset.path} line {raw.line_no}"
        check_lengths(raw, where, limits)
        if check_audio:
            clips = [read_training_audio(p) for p in raw.audio_paths]
            if any(c is None for c in clips):
                out.skipped_unreadable.append(raw.line_no)
                continue
            if any(c.size < MIN_TRAIN_SAMPLES for c in clips):
                out.skipped_short.append(raw.line_no)
                continue
        example = encoder.encode(raw)
        if limits.max_tokens and example.n_tokens > limits.max_tokens:
            raise DataError(f"{where}: {example.n_tokens} text tokens; the LLM takes at most {limits.max_tokens} "
                            "(shorten or split the dialogue)")
        out.examples.append(example)
    if out.n_skipped:
        log.warning("%s: skipped %d example(s): %d with unreadable audio (lines %s), %d with audio under %.1f s "
                    "(lines %s)", dataset.path, out.n_skipped, len(out.skipped_unreadable),
                    _lines(out.skipped_unreadable), len(out.skipped_short), MIN_TRAIN_SAMPLES / MODEL_RATE_HZ,
                    _lines(out.skipped_short))
    return out


def _lines(nums: list[int]) -> str:
    return ", ".join(map(str, nums[:10])) + (" ..." if len(nums) > 10 else "") if nums else "-"
