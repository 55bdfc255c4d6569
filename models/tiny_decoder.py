"""Write a decoder directory with seeded random weights in the released layout (for tests and benchmarks).

`config.yaml` has the same HyperPyYAML shape as the real file (tags, `!ref`, `!apply:` seed lines, an unused
`llm` block), `flow.pt` / `hift.pt` are plain state dicts, HiFT convs in legacy `weight_g` / `weight_v` form.
`size="tiny"` keeps every structural feature (block attention, relative positions, CFG, U-Net levels, harmonic
source, Snake ResBlocks, 256 samples per frame) with small widths; `size="real"` uses the released dimensions.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from models.decoder_config import load_decoder_config
from models.flow import FlowModel
from models.glm_constants import (
    CONFIG_FILE,
    FLOW_WEIGHTS_FILE,
    HIFT_WEIGHTS_FILE,
    SAMPLE_RATE_HZ,
    UNIT_RATE_HZ,
    UNIT_VOCAB_SIZE,
)
from models.hift import HiftGenerator

log = logging.getLogger(__name__)

F0_BIAS_HZ = 120.0  # random F0 predictors output ~0 Hz (unvoiced); bias them into the voiced range
LOG_MAGNITUDE_BIAS = -1.0  # with CONV_POST_GAIN: keeps random HiFT output well inside [-1, 1], unclipped
CONV_POST_GAIN = 0.1
POS_BIAS_STD = 0.1
BIAS_STD = 0.01


@dataclass(frozen=True)
class DecoderDims:
    d_model: int
    heads: int
    ffn_units: int
    n_layers: int
    unet_channels: int
    unet_heads: int
    unet_head_dim: int
    unet_blocks: int
    unet_mid_blocks: int
    hift_channels: int
    f0_channels: int


DIMS = {
    "tiny": DecoderDims(64, 4, 128, 2, 64, 2, 32, 1, 2, 32, 32),
    "real": DecoderDims(512, 8, 2048, 6, 256, 8, 64, 4, 12, 512, 512),
}

CONFIG_TEMPLATE = """\
# GLM-4-Voice decoder layout with random weights ({size}); written by `main.py make-tiny-decoder`.
__set_seed1: !apply:random.seed [1986]
__set_seed3: !apply:torch.manual_seed [1986]

sample_rate: {sample_rate}
spk_embed_dim: 192

llm: !new:cosyvoice.llm.llm.TransformerLM
    text_encoder_input_size: 512
    spk_embed_dim: !ref <spk_embed_dim>

flow: !new:cosyvoice.flow.flow.MaskedDiffWithXvec
    input_size: {d}
    output_size: 80
    spk_embed_dim: !ref <spk_embed_dim>
    output_type: 'mel'
    vocab_size: {vocab}
    input_frame_rate: {unit_rate}
    only_mask_loss: True
    encoder: !new:cosyvoice.transformer.encoder.BlockConformerEncoder
        output_size: {d}
        attention_heads: {heads}
        linear_units: {ffn}
        num_blocks: {layers}
        dropout_rate: 0.1
        positional_dropout_rate: 0.1
        attention_dropout_rate: 0.1
        normalize_before: True
        input_layer: 'linear'
        pos_enc_layer_type: 'rel_pos_espnet'
        selfattention_layer_type: 'block_rel_selfattn'
        block_size: 10
        input_size: {d}
        use_cnn_module: False
        macaron_style: False
    length_regulator: !new:cosyvoice.flow.length_regulator.InterpolateRegulator
        channels: 80
        sampling_ratios: [1, 1, 1, 1]
    decoder: !new:cosyvoice.flow.flow_matching.ConditionalCFM
        in_channels: 240
        n_spks: 1
        spk_emb_dim: 80
        cfm_params: !new:omegaconf.DictConfig
            content:
                sigma_min: 1e-06
                solver: 'euler'
                t_scheduler: 'cosine'
                training_cfg_rate: 0.2
                inference_cfg_rate: 0.7
                reg_loss_type: 'l1'
        estimator: !new:cosyvoice.flow.decoder.ConditionalDecoder
            in_channels: 320
            out_channels: 80
            channels: [{unet}, {unet}]
            dropout: 0
            attention_head_dim: {unet_head_dim}
            n_blocks: {unet_blocks}
            num_mid_blocks: {unet_mid}
            num_heads: {unet_heads}
            act_fn: 'gelu'

hift: !new:cosyvoice.hifigan.generator.HiFTGenerator
    in_channels: 80
    base_channels: {hift}
    nb_harmonics: 8
    sampling_rate: !ref <sample_rate>
    nsf_alpha: 0.1
    nsf_sigma: 0.003
    nsf_voiced_threshold: 10
    upsample_rates: [8, 8]
    upsample_kernel_sizes: [16, 16]
    istft_params:
        n_fft: 16
        hop_len: 4
    resblock_kernel_sizes: [3, 7, 11]
    resblock_dilation_sizes: [[1, 3, 5], [1, 3, 5], [1, 3, 5]]
    source_resblock_kernel_sizes: [7, 11]
    source_resblock_dilation_sizes: [[1, 3, 5], [1, 3, 5]]
    lrelu_slope: 0.1
    audio_limit: 0.99
    f0_predictor: !new:cosyvoice.hifigan.f0_predictor.ConvRNNF0Predictor
        num_class: 1
        in_channels: 80
        cond_channels: {f0}
"""


def render_config(size: str = "tiny") -> str:
    dims = DIMS[size]
    return CONFIG_TEMPLATE.format(
        size=size,
        sample_rate=SAMPLE_RATE_HZ,
        unit_rate=UNIT_RATE_HZ,
        d=dims.d_model,
        vocab=UNIT_VOCAB_SIZE,
        heads=dims.heads,
        ffn=dims.ffn_units,
        layers=dims.n_layers,
        unet=dims.unet_channels,
        unet_head_dim=dims.unet_head_dim,
        unet_blocks=dims.unet_blocks,
        unet_mid=dims.unet_mid_blocks,
        unet_heads=dims.unet_heads,
        hift=dims.hift_channels,
        f0=dims.f0_channels,
    )


def _fill(name: str, tensor: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Seeded value for one state-dict entry, by naming rule."""
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "alpha":
        return torch.ones(tensor.shape)
    if leaf.startswith("pos_bias"):
        return torch.randn(tensor.shape, generator=gen) * POS_BIAS_STD
    if tensor.dim() == 1:  # biases and norm affines
        base = torch.full(tensor.shape, 1.0 if leaf == "weight" else 0.0)  # 1-D weight: a norm
        return base + torch.randn(tensor.shape, generator=gen) * BIAS_STD
    fan_in = (
        max(1, tensor[0].numel()) if "ups." not in name else max(1, tensor.shape[0] * tensor.shape[2] // 8)
    )
    return torch.randn(tensor.shape, generator=gen) / math.sqrt(fan_in)


def random_state(module: torch.nn.Module, gen: torch.Generator) -> dict[str, torch.Tensor]:
    state = {k: _fill(k, v, gen) for k, v in sorted(module.state_dict().items())}
    for key in [k for k in state if k.endswith("weight_g")]:  # weight = v exactly: g = ||v|| per output slice
        v = state[key[:-1] + "v"]
        state[key] = v.flatten(1).norm(dim=1).reshape(state[key].shape)
    return state


def make_tiny_decoder(directory: str | Path, seed: int = 0, size: str = "tiny") -> Path:
    """Write config.yaml, flow.pt, hift.pt with seeded random weights; returns the directory."""
    if size not in DIMS:
        raise ValueError(f"size must be one of {sorted(DIMS)}")
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    (root / CONFIG_FILE).write_text(render_config(size), encoding="utf-8")
    cfg = load_decoder_config(root / CONFIG_FILE)
    gen = torch.Generator().manual_seed(seed)
    with torch.device("meta"):
        flow, hift = FlowModel(cfg.flow), HiftGenerator(cfg.hift)
    flow_state = random_state(flow, gen)
    hift_state = random_state(hift, gen)
    hift_state["f0_predictor.classifier.bias"] = torch.full((1,), F0_BIAS_HZ)
    n_bins = cfg.hift.n_fft // 2 + 1
    hift_state["conv_post.bias"][:n_bins] += LOG_MAGNITUDE_BIAS
    hift_state["conv_post.weight_g"] *= CONV_POST_GAIN
    torch.save(flow_state, root / FLOW_WEIGHTS_FILE)
    torch.save(hift_state, root / HIFT_WEIGHTS_FILE)
    log.info("wrote %s random decoder (seed %d) to %s", size, seed, root)
    return root
