"""The reference's unit extraction (GLM-4-Voice `extract_speech_token`), reproduced on our encoder.

Per utterance: first channel, resampled to 16 kHz, cut into 30 s segments. Segments of all utterances, in order,
go through the network `batch_size` at a time: Whisper log-mel features padded to the longest segment of the batch
and to a multiple of the stride (1280 samples = one code), with a frame mask; the codes under the mask are
concatenated per utterance. As in the reference, a segment's last feature frame can depend on what it is batched
with (STFT edge padding), so batch composition can change an utterance's last code.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import WhisperFeatureExtractor

from core.audio.clips import MODEL_RATE_HZ
from core.compute import resolve_device, resolve_dtype
from core.speech_tokenizer.audio import MAX_DURATION_S, prepare_audio, read_audio_file
from core.speech_tokenizer.features import log_mel_float64
from models.errors import CheckpointError
from models.speech_tokenizer import WhisperVQEncoder
from models.speech_tokenizer_checkpoint import FEATURE_CONFIG_FILE, load_speech_tokenizer_network

log = logging.getLogger(__name__)

SEGMENT_S = 30  # the reference's cut; also one 1500-position window of the encoder
CUDA_BATCH_SIZE = 16  # segments per forward on CUDA by default (the reference uses 128)


@dataclass(frozen=True)
class ExtractionConfig:
    # Segments per forward. None: 1 on CPU, where batching only adds padding work (docs/speech-tokenizer.md),
    # CUDA_BATCH_SIZE on CUDA.
    batch_size: int | None = None
    max_duration_s: float = MAX_DURATION_S

    def __post_init__(self) -> None:
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.max_duration_s <= 0:
            raise ValueError(f"max_duration_s must be > 0, got {self.max_duration_s}")


@dataclass(frozen=True)
class EncodedUtterance:
    codes: np.ndarray  # [U] int64
    states: np.ndarray  # [U, C] float32 (float64 for a float64 run): pooled encoder states the codes were looked up for


def load_feature_extractor(directory: Path, num_mel_bins: int) -> WhisperFeatureExtractor:
    path = directory / FEATURE_CONFIG_FILE
    try:
        extractor = WhisperFeatureExtractor.from_pretrained(str(directory))
    except (OSError, ValueError, TypeError) as err:
        raise CheckpointError(f"{path} is not a Whisper feature extractor config ({str(err)[:120]})") from err
    if extractor.feature_size != num_mel_bins or extractor.sampling_rate != MODEL_RATE_HZ:
        raise CheckpointError(
            f"{path}: feature_size {extractor.feature_size} / sampling_rate {extractor.sampling_rate} do not match "
            f"the encoder's {num_mel_bins} mel bins at {MODEL_RATE_HZ} Hz"
        )
    return extractor


class SpeechTokenizer:
    """Speech -> GLM-4-Voice units. Not thread-safe; one instance per worker."""

    def __init__(
        self,
        network: WhisperVQEncoder,
        extractor: WhisperFeatureExtractor,
        device: torch.device,
        dtype: torch.dtype,
        config: ExtractionConfig = ExtractionConfig(),
    ) -> None:
        self.network = network.to(device=device, dtype=dtype)
        self.network.codebook.to(torch.float32)  # nearest-codeword search in float32 whatever the dtype
        self.extractor = extractor
        self.device, self.dtype, self.config = device, dtype, config
        self.stride_samples = network.config.frames_per_code * extractor.hop_length  # 1280: one code
        self.segment_samples = SEGMENT_S * MODEL_RATE_HZ

    @property
    def batch_size(self) -> int:
        if self.config.batch_size is not None:
            return self.config.batch_size
        return CUDA_BATCH_SIZE if self.device.type == "cuda" else 1

    @classmethod
    def load(
        cls,
        directory: str | Path,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        config: ExtractionConfig = ExtractionConfig(),
    ) -> SpeechTokenizer:
        """A released `glm-4-voice-tokenizer` directory; CUDA bf16 when present, else CPU fp32 (by default)."""
        dev = device if isinstance(device, torch.device) else resolve_device(device)
        dt = dtype if isinstance(dtype, torch.dtype) else resolve_dtype(dtype, dev)
        loaded = load_speech_tokenizer_network(directory)
        extractor = load_feature_extractor(loaded.directory, loaded.config.num_mel_bins)
        return cls(loaded.network, extractor, dev, dt, config)

    @property
    def units_per_second(self) -> float:
        return MODEL_RATE_HZ / self.stride_samples

    def encode(self, samples: np.ndarray, sample_rate_hz: int) -> list[int]:
        return self.encode_batch([(samples, sample_rate_hz)])[0]

    def encode_file(self, path: str | Path) -> list[int]:
        data, rate_hz = read_audio_file(path, self.config.max_duration_s)
        clip = prepare_audio(data, rate_hz, self.config.max_duration_s, str(path))
        return self._run([clip])[0].codes.tolist()

    def encode_batch(self, items: Sequence[tuple[np.ndarray, int]]) -> list[list[int]]:
        return [u.codes.tolist() for u in self.encode_detailed(items)]

    def encode_detailed(self, items: Sequence[tuple[np.ndarray, int]]) -> list[EncodedUtterance]:
        """Codes and the pooled encoder states behind them, per utterance (for parity checks and analysis)."""
        names = ["the audio"] if len(items) == 1 else [f"utterance {i}" for i in range(len(items))]
        clips = [
            prepare_audio(samples, rate, self.config.max_duration_s, name)
            for name, (samples, rate) in zip(names, items, strict=True)
        ]
        return self._run(clips)

    def _run(self, clips: list[np.ndarray]) -> list[EncodedUtterance]:
        segments: list[tuple[int, np.ndarray]] = [
            (index, clip[start: start + self.segment_samples])
            for index, clip in enumerate(clips)
            for start in range(0, clip.size, self.segment_samples)
        ]
        codes: list[list[np.ndarray]] = [[] for _ in clips]
        states: list[list[np.ndarray]] = [[] for _ in clips]
        for start in range(0, len(segments), self.batch_size):
            batch = segments[start: start + self.batch_size]
            out_codes, out_mask, out_states = self._forward([audio for _, audio in batch])
            for row, (index, _) in enumerate(batch):
                keep = out_mask[row]
                codes[index].append(out_codes[row][keep])
                states[index].append(out_states[row][keep])
        return [EncodedUtterance(np.concatenate(c), np.concatenate(s)) for c, s in zip(codes, states, strict=True)]

    @torch.inference_mode()
    def _forward(self, audios: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        feature_device = "cuda" if self.device.type == "cuda" else "cpu"
        features = self.extractor(
            audios, sampling_rate=MODEL_RATE_HZ, return_attention_mask=True, return_tensors="pt",
            padding="longest", pad_to_multiple_of=self.stride_samples, device=feature_device,
        )
        mel = features["input_features"].to(self.device, self.dtype)  # [B, n_mels, T]
        if self.dtype == torch.float64:  # float64 from the first operation: features not rounded to float32
            padded = np.zeros((len(audios), mel.shape[-1] * self.extractor.hop_length))  # [B, N], zero padding
            for row, audio in enumerate(audios):
                padded[row, : audio.size] = audio
            mel = log_mel_float64(self.extractor, padded, feature_device).to(self.device)  # [B, n_mels, T]
        frame_mask = features["attention_mask"].to(self.device)  # [B, T]
        out = self.network(mel, frame_mask)
        states_dtype = torch.float64 if self.dtype == torch.float64 else torch.float32
        return out.codes.cpu().numpy(), out.mask.cpu().numpy(), out.states.to(states_dtype).cpu().numpy()
