"""Write a GLM-4-Voice speech tokenizer directory with seeded random weights in the released layout.

`config.json` has the released field set (a `WhisperVQConfig`: architectures `WhisperVQEncoder`, the quantizer and
pooling fields, the Whisper decoder fields the release carries but does not use); `model.safetensors` holds the
unprefixed keys of the release, `ema_count` / `ema_weight` included and no layer at or past the quantizer;
`preprocessor_config.json` is the released Whisper feature extractor (128 mel bins, 16 kHz).
`size="tiny"` keeps the released geometry that shapes the codes (128 mels, 1500 positions, blocks of 200 frames,
pool 4, 16384 codes) with a small width and 2 layers; `size="released"` uses the released dimensions (1.46 GB).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file

from models.speech_tokenizer import SpeechTokenizerConfig, WhisperVQEncoder
from models.speech_tokenizer_checkpoint import CONFIG_FILE, FEATURE_CONFIG_FILE, WEIGHTS_FILE

log = logging.getLogger(__name__)

WEIGHT_STD = 0.02
CODEBOOK_SPREAD = 1.0  # codewords: the random encoder's state mean + this x its per-channel std x N(0, 1)
CALIBRATION_FRAMES = 1600  # random log-mel frames the codebook is drawn around
LAYER_NORM_JITTER = 0.1  # norms away from (1, 0) so a mixed-up key shows in the outputs


@dataclass(frozen=True)
class TokenizerDims:
    d_model: int
    heads: int
    ffn: int
    layers: int  # up to the quantizer


SIZES = {
    "tiny": TokenizerDims(d_model=64, heads=4, ffn=128, layers=2),
    "released": TokenizerDims(d_model=1280, heads=20, ffn=5120, layers=16),
}

FEATURE_EXTRACTOR = {
    "chunk_length": 30,
    "feature_extractor_type": "WhisperFeatureExtractor",
    "feature_size": 128,
    "hop_length": 160,
    "n_fft": 400,
    "n_samples": 480000,
    "nb_max_frames": 3000,
    "padding_side": "right",
    "padding_value": 0.0,
    "processor_class": "WhisperProcessor",
    "return_attention_mask": False,
    "sampling_rate": 16000,
}


def released_config(dims: TokenizerDims) -> dict:
    """config.json in the release's shape, with `dims` for the widths and depths."""
    return {
        "architectures": ["WhisperVQEncoder"],
        "model_type": "whisper",
        "activation_dropout": 0.0,
        "activation_function": "gelu",
        "attention_dropout": 0.0,
        "d_model": dims.d_model,
        "decoder_attention_heads": dims.heads,
        "decoder_ffn_dim": dims.ffn,
        "decoder_layers": 2 * dims.layers,
        "dropout": 0.0,
        "encoder_attention_heads": dims.heads,
        "encoder_causal_attention": False,
        "encoder_causal_convolution": True,
        "encoder_ffn_dim": dims.ffn,
        "encoder_layers": 2 * dims.layers,
        "init_std": 0.02,
        "max_source_positions": 1500,
        "max_target_positions": 448,
        "num_hidden_layers": 2 * dims.layers,
        "num_mel_bins": 128,
        "pooling_kernel_size": 4,
        "pooling_position": dims.layers,
        "pooling_type": "avg",
        "quantize_causal_block_size": 200,
        "quantize_causal_encoder": False,
        "quantize_commit_coefficient": 0.25,
        "quantize_ema_decay": 0.99,
        "quantize_encoder_only": True,
        "quantize_loss_scale": 10.0,
        "quantize_position": dims.layers,
        "quantize_restart_interval": 100,
        "quantize_vocab_size": 16384,
        "scale_embedding": False,
        "skip_language_detection": True,
        "torch_dtype": "float32",
        "vocab_size": 51866,
    }


def random_network(config: SpeechTokenizerConfig, seed: int = 0) -> WhisperVQEncoder:
    """The encoder with seeded random weights (float32, CPU, eval); also used by the benchmark."""
    generator = torch.Generator().manual_seed(seed)
    network = WhisperVQEncoder(config)
    with torch.no_grad():
        for name, tensor in sorted(network.state_dict(keep_vars=True).items()):
            if "layer_norm" in name:
                base = 1.0 if name.endswith("weight") else 0.0
                tensor.uniform_(base - LAYER_NORM_JITTER, base + LAYER_NORM_JITTER, generator=generator)
            else:
                tensor.normal_(0.0, WEIGHT_STD, generator=generator)
        network.eval().requires_grad_(False)
        # Plain random codewords all sit far from the encoder's states, and a handful of them win every frame.
        # Drawn around the states instead, the codes vary with the audio as a trained codebook's do.
        mel = 0.5 + 0.5 * torch.randn(1, config.num_mel_bins, CALIBRATION_FRAMES, generator=generator)  # [1, M, T]
        states = network(mel, torch.ones(1, CALIBRATION_FRAMES)).states[0]  # [T/8, C]
        noise = torch.randn(network.codebook.weight.shape, generator=generator)
        network.codebook.weight.copy_(states.mean(0) + CODEBOOK_SPREAD * states.std(0) * noise)
    return network


def write_tiny_speech_tokenizer(directory: str | Path, seed: int = 0, size: str = "tiny") -> Path:
    """Write config.json, model.safetensors and preprocessor_config.json to `directory`; returns its path."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; use one of {', '.join(SIZES)}")
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    data = released_config(SIZES[size])
    config = SpeechTokenizerConfig.from_dict(data)
    network = random_network(config, seed)
    state = {k: v.contiguous() for k, v in network.state_dict().items()}
    state["ema_weight"] = state["codebook.weight"].clone()  # training statistics the release carries
    state["ema_count"] = torch.ones(config.quantize_vocab_size)
    save_file(state, str(root / WEIGHTS_FILE), metadata={"format": "pt"})
    (root / CONFIG_FILE).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (root / FEATURE_CONFIG_FILE).write_text(json.dumps(FEATURE_EXTRACTOR, indent=2) + "\n", encoding="utf-8")
    log.info("wrote %s random speech tokenizer (seed %d) to %s", size, seed, root)
    return root
