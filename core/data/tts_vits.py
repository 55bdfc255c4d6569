"""VITS backend (transformers `VitsModel`, no remote code): speaker id for multi-speaker checkpoints (e.g.
kakao-enterprise/vits-vctk, 109 speakers); emotion and style only through speaking rate, sampling noise (prosody
variability) and volume. Checkpoints whose tokenizer phonemizes need the `phonemizer` package."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from core.data.prosody import prosody_for
from core.data.tts import SpeechRequest
from models.errors import CheckpointError, UserError

log = logging.getLogger(__name__)

MAX_NOISE_FACTOR = 1.6
MAX_VOLUME = 1.2


class VitsSynth:
    name = "vits"
    controls = ("speaker (speaker_id)", "rate", "prosody variability (noise scale)", "volume")

    def __init__(self, checkpoint: str, device: str = "cpu") -> None:
        import torch
        from transformers import VitsModel, VitsTokenizer

        path = Path(checkpoint)
        if not (path / "config.json").is_file():
            raise CheckpointError(f"speech.checkpoint {path}: not a VITS model folder (no config.json)")
        try:
            self.tokenizer = VitsTokenizer.from_pretrained(str(path), local_files_only=True)
            self.model = VitsModel.from_pretrained(str(path), dtype=torch.float32, local_files_only=True).to(device)
        except (OSError, ValueError) as err:
            raise CheckpointError(f"speech.checkpoint {path}: cannot load ({str(err).splitlines()[0]})") from None
        if self.tokenizer.phonemize:
            from transformers.utils import is_phonemizer_available

            if not is_phonemizer_available():
                raise UserError(f"speech.checkpoint {path}: its tokenizer phonemizes; pip install phonemizer")
        self.model.eval()
        self.base_noise = float(self.model.config.noise_scale)
        self.rate_hz = int(self.model.config.sampling_rate)

    def check_voice(self, voice: str) -> None:
        self._speaker(voice)

    def _speaker(self, voice: str) -> int | None:
        n = int(self.model.config.num_speakers)
        if voice in ("", "default"):
            return None if n <= 1 else 0
        name = voice.removeprefix("speaker:")
        if not name.isdigit() or not 0 <= int(name) < max(n, 1):
            raise UserError(f"speech voice {voice!r}: this VITS checkpoint has speakers speaker:0..speaker:{n - 1}")
        return int(name) if n > 1 else None

    def synthesize(self, request: SpeechRequest) -> tuple[np.ndarray, int]:
        import torch

        p = prosody_for(request.emotion, request.style)
        inputs = self.tokenizer(request.text, return_tensors="pt").to(self.model.device)
        # the same noise for the same text and voice: emotion and style change only the controlled settings
        key = f"{request.voice}\n{request.text}".encode()
        seed = int.from_bytes(hashlib.sha256(key).digest()[:8], "little") % (2**63)
        self.model.noise_scale = self.base_noise * min(p.pitch_range, MAX_NOISE_FACTOR)
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(seed)  # VITS draws its noise from the global RNG: fixed per request, then restored
            out = self.model(**inputs, speaker_id=self._speaker(request.voice), speaking_rate=p.rate)
        wave = out.waveform[0].float().cpu().numpy()  # [N]
        return (wave * min(p.volume, MAX_VOLUME)).astype(np.float32), self.rate_hz


def make_tiny_vits(out_dir: str | Path, num_speakers: int = 4, seed: int = 0) -> Path:
    """A tiny random multi-speaker VitsModel + character tokenizer (no phonemizer) in the standard layout."""
    import json

    import torch
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chars = ["<pad>", "<unk>", " "] + list("abcdefghijklmnopqrstuvwxyz'.,!?-")
    (out / "vocab.json").write_text(json.dumps({c: i for i, c in enumerate(chars)}), "utf-8")
    VitsTokenizer(str(out / "vocab.json"), phonemize=False, add_blank=True).save_pretrained(str(out))
    config = VitsConfig(
        vocab_size=len(chars), hidden_size=16, num_hidden_layers=2, num_attention_heads=2, ffn_dim=32,
        flow_size=16, spectrogram_bins=17, upsample_initial_channel=16, upsample_rates=[8, 8, 4],
        upsample_kernel_sizes=[16, 16, 8], resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]],
        prior_encoder_num_flows=2, prior_encoder_num_wavenet_layers=2, posterior_encoder_num_wavenet_layers=2,
        duration_predictor_filter_channels=16, duration_predictor_flow_bins=4, depth_separable_num_layers=2,
        num_speakers=num_speakers, speaker_embedding_size=8 if num_speakers > 1 else 0, sampling_rate=16_000,
    )
    torch.manual_seed(seed)
    VitsModel(config).save_pretrained(str(out), safe_serialization=True)
    return out
