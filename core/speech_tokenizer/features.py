"""Whisper log-mel features computed in float64, for float64 runs of the speech tokenizer.

The stock `WhisperFeatureExtractor` computes in float32, so its features (and everything a "float64" run computes
from them) carry float32 rounding that depends on the CPU's vector units. A float64 run of the tokenizer uses these
instead: the same definition (periodic Hann window, centred reflect-padded STFT, power spectrum without the last
frame, the extractor's mel filters, log10 floored at 1e-10 and at 8 below the utterance's maximum, then (x + 4) / 4),
every operation in float64.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import WhisperFeatureExtractor

LOG_FLOOR = 1e-10
DYNAMIC_RANGE_LOG10 = 8.0


def log_mel_float64(extractor: WhisperFeatureExtractor, waveforms: np.ndarray, device: str = "cpu") -> torch.Tensor:
    """waveforms [B, N] (already padded, N a multiple of the hop) -> log-mel features [B, n_mels, N // hop] float64."""
    if extractor.dither:
        raise ValueError(f"float64 features are defined without dither; the extractor has dither={extractor.dither}")
    x = torch.as_tensor(waveforms, dtype=torch.float64, device=device)  # [B, N]
    window = torch.hann_window(extractor.n_fft, periodic=True, dtype=torch.float64, device=device)
    spec = torch.stft(x, extractor.n_fft, extractor.hop_length, window=window, center=True, pad_mode="reflect",
                      return_complex=True)  # [B, n_fft // 2 + 1, N // hop + 1]
    power = spec[..., :-1].abs().square()  # [B, F, T]
    filters = torch.as_tensor(np.asarray(extractor.mel_filters, dtype=np.float64), device=device)  # [F, n_mels]
    mel = torch.einsum("fm,bft->bmt", filters, power)  # [B, n_mels, T]
    log_mel = mel.clamp_min(LOG_FLOOR).log10()
    peak = log_mel.amax(dim=(1, 2), keepdim=True)  # [B, 1, 1]
    return (torch.maximum(log_mel, peak - DYNAMIC_RANGE_LOG10) + 4.0) / 4.0
