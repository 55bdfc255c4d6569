"""The OpenS2S network: weights only. Per-turn state (caches, positions, RNG) lives in `core.lm.runner`.

Module attribute names reproduce the released state-dict keys exactly (`audio_encoder_model.*`, `audio_adapter.*`,
`llm_model.*`, `tts_lm_model.*`, `llm2tts.*`, `llm_ln.*`).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import PretrainedConfig, Qwen2AudioEncoder, Qwen2ForCausalLM, Qwen3ForCausalLM

from models.config import OpenS2SConfig

SPEAKER_EMBED_DIM = 512  # width of the (optional) speaker embedding fed to the TTS LM's first slot
PROJECTION_LN_EPS = 1e-5
ENCODER_WINDOW_FRAMES = 3000  # one 30 s Whisper window of 10 ms mel frames
ENCODER_FRAMES_PER_WINDOW_OUT = 750  # after conv stride 2 and the 2x average pool
CAUSAL_LM_CLASSES = {"qwen3": Qwen3ForCausalLM, "qwen2": Qwen2ForCausalLM}


def conv_out_len(n: torch.Tensor | int) -> torch.Tensor | int:
    """Length after a stride-2 conv with 'same' padding: floor((n - 1) / 2) + 1."""
    return (n - 1) // 2 + 1


def encoder_out_len(mel_frames: int) -> int:
    """Encoder frames for `mel_frames` valid mel frames: conv2 (stride 2), then the 2x average pool."""
    return (conv_out_len(mel_frames) - 2) // 2 + 1


class ConvGLUSubsampler(nn.Module):
    """Stride-2 Conv1d + GLU layers; every layer but the last keeps the width, the last maps to `out_dim`."""

    def __init__(self, in_dim: int, out_dim: int, kernel_sizes: tuple[int, ...]):
        super().__init__()
        n = len(kernel_sizes)
        self.conv_layers = nn.ModuleList(
            nn.Conv1d(in_dim, 2 * (out_dim if i == n - 1 else in_dim), k, stride=2, padding=k // 2)
            for i, k in enumerate(kernel_sizes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, C_in] -> [B, T', C_out]
        x = x.transpose(1, 2)  # [B, C, T]
        for conv in self.conv_layers:
            x = nn.functional.glu(conv(x), dim=1)
        return x.transpose(1, 2)

    def out_len(self, n: int) -> int:
        for _ in self.conv_layers:
            n = conv_out_len(n)
        return n


class AudioAdapter(nn.Module):
    """Encoder frames (6.25x subsampled after the convs) -> LLM embeddings: conv+GLU, residual bottleneck, LN."""

    def __init__(self, enc_dim: int, inner_dim: int, llm_dim: int, kernel_sizes: tuple[int, ...]):
        super().__init__()
        self.subsampler = ConvGLUSubsampler(enc_dim, llm_dim, kernel_sizes)
        self.fc1 = nn.Linear(llm_dim, inner_dim, bias=False)
        self.fc2 = nn.Linear(inner_dim, llm_dim, bias=False)
        self.ln = nn.LayerNorm(llm_dim, eps=PROJECTION_LN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, C_enc] -> [B, T', H_llm]
        x = self.subsampler(x)
        x = x + self.fc2(nn.functional.gelu(self.fc1(x)))
        return self.ln(x)


def _tts_lm_class(config: PretrainedConfig) -> type[nn.Module]:
    base = CAUSAL_LM_CLASSES[config.model_type]

    class TTSLanguageModel(base):  # type: ignore[misc, valid-type]
        """A causal LM over speech-unit tokens with a speaker-embedding projection for its first input slot."""

        def __init__(self, cfg: PretrainedConfig):
            super().__init__(cfg)
            self.spk2tts = nn.Linear(SPEAKER_EMBED_DIM, cfg.hidden_size, bias=False)
            self.spk_ln = nn.LayerNorm(cfg.hidden_size, eps=PROJECTION_LN_EPS)

    return TTSLanguageModel


class OpenS2SModel(nn.Module):
    """Whisper-style audio encoder -> adapter -> LLM; LLM hidden states -> llm2tts + LN -> TTS LM."""

    def __init__(self, config: OpenS2SConfig):
        super().__init__()
        self.config = config
        enc, llm, tts = config.audio_encoder, config.llm, config.tts_lm
        self.audio_encoder_model = Qwen2AudioEncoder(enc)
        self.audio_adapter = AudioAdapter(enc.d_model, config.adapter_inner_dim, llm.hidden_size,
                                          config.conv_kernel_sizes)
        self.llm_model = CAUSAL_LM_CLASSES[llm.model_type](llm)
        self.tts_lm_model = _tts_lm_class(tts)(tts)
        self.llm2tts = nn.Linear(llm.hidden_size, tts.hidden_size, bias=False)
        self.llm_ln = nn.LayerNorm(tts.hidden_size, eps=PROJECTION_LN_EPS)

    # ---- audio path -------------------------------------------------------------------------------------------
    def encode_audio(self, features: torch.Tensor, valid_frames: int) -> torch.Tensor:
        """Whisper features of ONE clip -> LLM input embeddings.

        features: [128, T] with T a multiple of 3000 (30 s windows); valid_frames: unpadded mel frames.
        Windows past the last valid one are not computed; each window is encoded on its own with no attention
        mask (the padded tail of the last window is attended to, as in the reference). Returns [N, H_llm].
        """
        n_windows = -(-valid_frames // ENCODER_WINDOW_FRAMES)
        windows = features[:, : n_windows * ENCODER_WINDOW_FRAMES]
        windows = windows.reshape(features.shape[0], n_windows, ENCODER_WINDOW_FRAMES).transpose(0, 1)  # [W,128,3000]
        hidden = self.audio_encoder_model(windows).last_hidden_state  # [W, 750, C_enc]
        lengths = [min(ENCODER_WINDOW_FRAMES, valid_frames - w * ENCODER_WINDOW_FRAMES) for w in range(n_windows)]
        n_enc = sum(encoder_out_len(n) for n in lengths)
        hidden = hidden.reshape(1, n_windows * ENCODER_FRAMES_PER_WINDOW_OUT, -1)[:, :n_enc]  # [1, N_enc, C_enc]
        return self.audio_adapter(hidden)[0]  # [N, H_llm]

    # ---- projections ------------------------------------------------------------------------------------------
    def speaker_slot(self, spk_emb: torch.Tensor | None = None) -> torch.Tensor:
        """The TTS LM's first input. With no speaker embedding the reference feeds zeros: [1, 1, H_tts]."""
        tts = self.tts_lm_model
        if spk_emb is None:
            spk_emb = torch.zeros(1, 1, SPEAKER_EMBED_DIM, device=self.llm2tts.weight.device,
                                  dtype=self.llm2tts.weight.dtype)
        return tts.spk_ln(tts.spk2tts(spk_emb))

    def project_to_tts(self, llm_hidden: torch.Tensor) -> torch.Tensor:  # [B, T, H_llm] -> [B, T, H_tts]
        return self.llm_ln(self.llm2tts(llm_hidden))
