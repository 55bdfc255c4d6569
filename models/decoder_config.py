"""Read the GLM-4-Voice decoder `config.yaml` as plain data and map it onto our own config dataclasses.

The file is HyperPyYAML: it carries Python constructor tags (`!new:pkg.Class`, `!name:`, `!apply:`, `!ref
<key>`). None of them is ever executed. A SafeLoader subclass turns every tag into a `Tagged(tag, value)`
record, `!ref` is resolved against top-level keys by name only, and the numbers are copied into frozen
dataclasses. A layout this module does not know (another class, another attention type, a conv module...)
raises `CheckpointError`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from models.errors import CheckpointError
from models.glm_constants import MEL_BINS, MEL_HOP_SAMPLES, SAMPLE_RATE_HZ, UNIT_RATE_HZ

log = logging.getLogger(__name__)

FLOW_CLASS = "cosyvoice.flow.flow.MaskedDiffWithXvec"
ENCODER_CLASS = "cosyvoice.transformer.encoder.BlockConformerEncoder"
REGULATOR_CLASS = "cosyvoice.flow.length_regulator.InterpolateRegulator"
CFM_CLASS = "cosyvoice.flow.flow_matching.ConditionalCFM"
ESTIMATOR_CLASS = "cosyvoice.flow.decoder.ConditionalDecoder"
HIFT_CLASS = "cosyvoice.hifigan.generator.HiFTGenerator"
F0_CLASS = "cosyvoice.hifigan.f0_predictor.ConvRNNF0Predictor"
DICT_CLASS = "omegaconf.DictConfig"


@dataclass(frozen=True)
class Tagged:
    """A YAML node that carried a tag such as `!new:cosyvoice.flow.flow.MaskedDiffWithXvec`."""

    tag: str
    value: Any


class _TagKeepingLoader(yaml.SafeLoader):
    """SafeLoader that records unknown tags as data instead of refusing (or running) them."""


def _construct_tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Tagged:
    if isinstance(node, yaml.MappingNode):
        value: Any = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_scalar(node)
    return Tagged("!" + suffix, value)


_TagKeepingLoader.add_multi_constructor("!", _construct_tagged)


@dataclass(frozen=True)
class EncoderConfig:
    input_size: int
    d_model: int
    heads: int
    ffn_units: int
    n_layers: int
    block_size: int
    key_bias: bool = True

    def __post_init__(self) -> None:
        _require(
            self.d_model % self.heads == 0, "flow.encoder: output_size must be divisible by attention_heads"
        )
        _require(
            min(self.d_model, self.ffn_units, self.n_layers, self.block_size) > 0, "flow.encoder sizes > 0"
        )


@dataclass(frozen=True)
class EstimatorConfig:
    in_channels: int
    out_channels: int
    channels: tuple[int, ...]
    head_dim: int
    heads: int
    n_blocks: int
    n_mid_blocks: int

    def __post_init__(self) -> None:
        _require(len(self.channels) >= 1, "flow estimator: channels must not be empty")
        _require(all(c % 8 == 0 for c in self.channels), "flow estimator: channels must be multiples of 8")


@dataclass(frozen=True)
class FlowConfig:
    input_size: int
    output_size: int
    spk_embed_dim: int
    vocab_size: int
    input_frame_rate: float
    encoder: EncoderConfig
    regulator_stages: int
    regulator_groups: int
    estimator: EstimatorConfig
    inference_cfg_rate: float
    t_scheduler: str

    def __post_init__(self) -> None:
        _require(
            self.estimator.in_channels == 4 * self.output_size, "flow estimator in_channels must be 4*80"
        )
        _require(self.t_scheduler in ("cosine", "linear"), f"unknown t_scheduler {self.t_scheduler!r}")


@dataclass(frozen=True)
class HiftConfig:
    in_channels: int
    base_channels: int
    nb_harmonics: int
    sampling_rate_hz: int
    nsf_alpha: float
    nsf_sigma: float
    nsf_voiced_threshold: float
    upsample_rates: tuple[int, ...]
    upsample_kernel_sizes: tuple[int, ...]
    n_fft: int
    hop_len: int
    resblock_kernel_sizes: tuple[int, ...]
    resblock_dilation_sizes: tuple[tuple[int, ...], ...]
    source_resblock_kernel_sizes: tuple[int, ...]
    source_resblock_dilation_sizes: tuple[tuple[int, ...], ...]
    lrelu_slope: float
    audio_limit: float
    f0_cond_channels: int

    def __post_init__(self) -> None:
        _require(len(self.upsample_rates) == len(self.upsample_kernel_sizes), "hift: upsample lists differ")
        _require(len(self.source_resblock_kernel_sizes) == len(self.upsample_rates), "hift: source resblocks")
        _require(len(self.resblock_kernel_sizes) == len(self.resblock_dilation_sizes), "hift: resblock lists")

    @property
    def samples_per_frame(self) -> int:
        total = self.hop_len
        for rate in self.upsample_rates:
            total *= rate
        return total


@dataclass(frozen=True)
class DecoderConfig:
    flow: FlowConfig
    hift: HiftConfig


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise CheckpointError(f"unsupported decoder config: {what}")


def load_decoder_config(path: Path) -> DecoderConfig:
    """Parse `config.yaml` (never executing its tags) into a `DecoderConfig`, or raise `CheckpointError`."""
    try:
        raw = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_TagKeepingLoader)  # noqa: S506
    except OSError as err:
        raise CheckpointError(f"cannot read decoder config {path}: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise CheckpointError(f"decoder config {path} is not valid YAML: {str(err).splitlines()[0]}") from err
    if not isinstance(raw, dict):
        raise CheckpointError(f"decoder config {path} is not a YAML mapping")
    resolved = _resolve_refs(raw, raw)
    flow = _flow_config(_section(resolved.get("flow"), "flow"))
    hift = _hift_config(_section(resolved.get("hift"), "hift"))
    _check_streaming_geometry(flow, hift)
    return DecoderConfig(flow=flow, hift=hift)


def _check_streaming_geometry(flow: FlowConfig, hift: HiftConfig) -> None:
    """The token2wav procedure assumes 80 mels at 22050 Hz, 256 samples per frame, 12.5 units/s."""
    found = (
        flow.output_size,
        hift.in_channels,
        hift.sampling_rate_hz,
        hift.samples_per_frame,
        flow.input_frame_rate,
    )
    wanted = (MEL_BINS, MEL_BINS, SAMPLE_RATE_HZ, MEL_HOP_SAMPLES, UNIT_RATE_HZ)
    if found != wanted:
        raise CheckpointError(
            f"unsupported decoder layout: (mels, hift mels, rate Hz, samples/frame, units/s) = {found}, "
            f"expected {wanted}"
        )


def _resolve_refs(node: Any, root: dict) -> Any:
    """Replace `!ref <key>` by the top-level value `key`; other tags are kept as `Tagged` data."""
    if isinstance(node, Tagged):
        if node.tag == "!ref":
            return _lookup_ref(str(node.value), root)
        return Tagged(node.tag, _resolve_refs(node.value, root))
    if isinstance(node, dict):
        return {k: _resolve_refs(v, root) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve_refs(v, root) for v in node]
    return node


def _lookup_ref(expr: str, root: dict) -> Any:
    name = expr.strip()
    if not (name.startswith("<") and name.endswith(">")) or name[1:-1] not in root:
        raise CheckpointError(
            f"unsupported decoder config: cannot resolve '!ref {expr}' (only '<top_level_key>')"
        )
    return _resolve_refs(root[name[1:-1]], root)


def _section(node: Any, where: str, cls: str | None = None) -> dict:
    """The mapping of a `!new:<cls>` node, checking the class name."""
    if not isinstance(node, Tagged) or not isinstance(node.value, dict):
        raise CheckpointError(f"unsupported decoder config: '{where}' is missing or not a '!new:' mapping")
    expected = cls or {"flow": FLOW_CLASS, "hift": HIFT_CLASS}[where]
    if node.tag != f"!new:{expected}":
        raise CheckpointError(
            f"unsupported decoder layout: '{where}' is {node.tag!r}, expected '!new:{expected}'"
        )
    return node.value


def _get(section: dict, key: str, where: str, kind: type, default: Any = None) -> Any:
    if key not in section:
        if default is None:
            raise CheckpointError(f"unsupported decoder config: '{where}.{key}' is missing")
        return default
    value = section[key]
    try:
        if kind is bool:
            if not isinstance(value, bool):
                raise ValueError(value)
            return value
        if kind is int and (isinstance(value, bool) or float(value) != int(float(value))):
            raise ValueError(value)
        return kind(float(value)) if kind in (int, float) else kind(value)
    except (TypeError, ValueError) as err:
        raise CheckpointError(
            f"unsupported decoder config: '{where}.{key}' = {value!r} is not {kind.__name__}"
        ) from err


def _ints(section: dict, key: str, where: str, default: Any = None) -> tuple[int, ...]:
    value = section.get(key, default)
    if not isinstance(value, (list, tuple)):
        raise CheckpointError(f"unsupported decoder config: '{where}.{key}' must be a list of integers")
    return tuple(_get({key: v}, key, where, int) for v in value)


def _expect(section: dict, key: str, where: str, allowed: tuple, default: Any) -> None:
    value = section.get(key, default)
    if value not in allowed:
        raise CheckpointError(
            f"unsupported decoder layout: '{where}.{key}' = {value!r} (supported: {allowed})"
        )


def _encoder_config(node: Any) -> EncoderConfig:
    sec, w = _section(node, "flow.encoder", ENCODER_CLASS), "flow.encoder"
    _expect(sec, "input_layer", w, ("linear",), "conv2d")
    _expect(sec, "pos_enc_layer_type", w, ("rel_pos_espnet",), "rel_pos")
    _expect(sec, "selfattention_layer_type", w, ("block_rel_selfattn",), "rel_selfattn")
    _expect(sec, "use_cnn_module", w, (False,), True)
    _expect(sec, "macaron_style", w, (False,), True)
    _expect(sec, "normalize_before", w, (True,), True)
    _expect(sec, "activation_type", w, ("swish",), "swish")
    _expect(sec, "static_chunk_size", w, (0,), 0)
    _expect(sec, "use_dynamic_chunk", w, (False,), False)
    return EncoderConfig(
        input_size=_get(sec, "input_size", w, int),
        d_model=_get(sec, "output_size", w, int, 256),
        heads=_get(sec, "attention_heads", w, int, 4),
        ffn_units=_get(sec, "linear_units", w, int, 2048),
        n_layers=_get(sec, "num_blocks", w, int, 6),
        block_size=_get(sec, "block_size", w, int, 25),
        key_bias=_get(sec, "key_bias", w, bool, True),
    )


def _estimator_config(node: Any) -> EstimatorConfig:
    sec, w = _section(node, "flow.decoder.estimator", ESTIMATOR_CLASS), "flow.decoder.estimator"
    _expect(sec, "act_fn", w, ("gelu",), "snake")
    return EstimatorConfig(
        in_channels=_get(sec, "in_channels", w, int),
        out_channels=_get(sec, "out_channels", w, int),
        channels=_ints(sec, "channels", w, [256, 256]),
        head_dim=_get(sec, "attention_head_dim", w, int, 64),
        heads=_get(sec, "num_heads", w, int, 4),
        n_blocks=_get(sec, "n_blocks", w, int, 1),
        n_mid_blocks=_get(sec, "num_mid_blocks", w, int, 2),
    )


def _flow_config(sec: dict) -> FlowConfig:
    reg = _section(sec.get("length_regulator"), "flow.length_regulator", REGULATOR_CLASS)
    cfm = _section(sec.get("decoder"), "flow.decoder", CFM_CLASS)
    params = _section(cfm.get("cfm_params"), "flow.decoder.cfm_params", DICT_CLASS).get("content", {})
    _expect(params, "solver", "flow.decoder.cfm_params", ("euler",), "euler")
    output_size = _get(sec, "output_size", "flow", int, 80)
    if _get(reg, "channels", "flow.length_regulator", int) != output_size:
        raise CheckpointError(
            "unsupported decoder layout: length_regulator.channels must equal flow.output_size"
        )
    encoder = _encoder_config(sec.get("encoder"))
    if _get(sec, "input_size", "flow", int, 512) != encoder.input_size:
        raise CheckpointError("unsupported decoder layout: flow.input_size must equal encoder input_size")
    if reg.get("out_channels") not in (None, output_size):
        raise CheckpointError("unsupported decoder layout: length_regulator.out_channels must equal channels")
    return FlowConfig(
        input_size=encoder.input_size,
        output_size=output_size,
        spk_embed_dim=_get(sec, "spk_embed_dim", "flow", int, 192),
        vocab_size=_get(sec, "vocab_size", "flow", int, 4096),
        input_frame_rate=_get(sec, "input_frame_rate", "flow", float, 50),
        encoder=encoder,
        regulator_stages=len(_ints(reg, "sampling_ratios", "flow.length_regulator")),
        regulator_groups=_get(reg, "groups", "flow.length_regulator", int, 1),
        estimator=_estimator_config(cfm.get("estimator")),
        inference_cfg_rate=_get(params, "inference_cfg_rate", "flow.decoder.cfm_params", float, 0.7),
        t_scheduler=str(params.get("t_scheduler", "cosine")),
    )


def _nested_ints(sec: dict, key: str, where: str) -> tuple[tuple[int, ...], ...]:
    value = sec.get(key)
    if not isinstance(value, list) or not all(isinstance(v, list) for v in value):
        raise CheckpointError(f"unsupported decoder config: '{where}.{key}' must be a list of integer lists")
    return tuple(_ints({key: v}, key, where) for v in value)


def _hift_config(sec: dict) -> HiftConfig:
    w = "hift"
    f0 = _section(sec.get("f0_predictor"), "hift.f0_predictor", F0_CLASS)
    istft = sec.get("istft_params", {"n_fft": 16, "hop_len": 4})
    if _get(f0, "num_class", "hift.f0_predictor", int, 1) != 1:
        raise CheckpointError("unsupported decoder layout: hift.f0_predictor.num_class must be 1")
    return HiftConfig(
        in_channels=_get(sec, "in_channels", w, int, 80),
        base_channels=_get(sec, "base_channels", w, int, 512),
        nb_harmonics=_get(sec, "nb_harmonics", w, int, 8),
        sampling_rate_hz=_get(sec, "sampling_rate", w, int, SAMPLE_RATE_HZ),
        nsf_alpha=_get(sec, "nsf_alpha", w, float, 0.1),
        nsf_sigma=_get(sec, "nsf_sigma", w, float, 0.003),
        nsf_voiced_threshold=_get(sec, "nsf_voiced_threshold", w, float, 10),
        upsample_rates=_ints(sec, "upsample_rates", w, [8, 8]),
        upsample_kernel_sizes=_ints(sec, "upsample_kernel_sizes", w, [16, 16]),
        n_fft=_get(istft, "n_fft", "hift.istft_params", int),
        hop_len=_get(istft, "hop_len", "hift.istft_params", int),
        resblock_kernel_sizes=_ints(sec, "resblock_kernel_sizes", w, [3, 7, 11]),
        resblock_dilation_sizes=_nested_ints(sec, "resblock_dilation_sizes", w),
        source_resblock_kernel_sizes=_ints(sec, "source_resblock_kernel_sizes", w, [7, 11]),
        source_resblock_dilation_sizes=_nested_ints(sec, "source_resblock_dilation_sizes", w),
        lrelu_slope=_get(sec, "lrelu_slope", w, float, 0.1),
        audio_limit=_get(sec, "audio_limit", w, float, 0.99),
        f0_cond_channels=_get(f0, "cond_channels", "hift.f0_predictor", int, 512),
    )
