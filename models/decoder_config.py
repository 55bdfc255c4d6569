"""Read the GLM-4-Voice decoder `config.yaml` as plain data and map it onto our own config dataclasses.

The file is HyperPyYAML: it carries Python constructor tags (`!new:pkg.Class`, `!name:`, `!apply:`, `!ref
<key>`). None of them is ever executed. A SafeLoader subclass turns every tag into a `Tagged(tag, value)`
record, `!ref` is resolved against top-level keys by name only, and the numbers are copied into frozen
dataclasses. A layout this module does not know (another class, another attention type, a conv module...)
raises `CheckpointError`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from models.config_checks import MAX_HEADS, MAX_LAYERS, MAX_VOCAB, MAX_WIDTH, check_float, check_int
from models.errors import CheckpointError
from models.glm_constants import MEL_BINS, MEL_HOP_SAMPLES, SAMPLE_RATE_HZ, UNIT_RATE_HZ

log = logging.getLogger(__name__)

MAX_CONFIG_BYTES = 1_000_000  # the released config.yaml is ~4 KB
MAX_NODES = 200_000  # nodes materialised while resolving aliases and !ref (stops "billion laughs" files)
MAX_DEPTH = 64  # nesting, which also stops self-referencing aliases

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
        w = "config.yaml: flow.encoder"
        check_int(f"{w}.input_size", self.input_size, 1, MAX_WIDTH)
        check_int(f"{w}.output_size", self.d_model, 1, MAX_WIDTH)
        check_int(f"{w}.attention_heads", self.heads, 1, MAX_HEADS)
        check_int(f"{w}.linear_units", self.ffn_units, 1, 8 * MAX_WIDTH)
        check_int(f"{w}.num_blocks", self.n_layers, 1, MAX_LAYERS)
        check_int(f"{w}.block_size", self.block_size, 1, 100_000)
        _require(
            self.d_model % self.heads == 0, "flow.encoder: output_size must be divisible by attention_heads"
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
        w = "config.yaml: flow.decoder.estimator"
        check_int(f"{w}.in_channels", self.in_channels, 1, MAX_WIDTH)
        check_int(f"{w}.out_channels", self.out_channels, 1, MAX_WIDTH)
        _require(1 <= len(self.channels) <= 16, "flow estimator: channels must hold 1 to 16 sizes")
        for c in self.channels:
            check_int(f"{w}.channels", c, 8, MAX_WIDTH)
        check_int(f"{w}.attention_head_dim", self.head_dim, 1, MAX_WIDTH)
        check_int(f"{w}.num_heads", self.heads, 1, MAX_HEADS)
        check_int(f"{w}.n_blocks", self.n_blocks, 1, MAX_LAYERS)
        check_int(f"{w}.num_mid_blocks", self.n_mid_blocks, 0, MAX_LAYERS)
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
        w = "config.yaml: flow"
        check_int(f"{w}.spk_embed_dim", self.spk_embed_dim, 1, MAX_WIDTH)
        check_int(f"{w}.vocab_size", self.vocab_size, 1, MAX_VOCAB)
        check_int("config.yaml: flow.length_regulator.sampling_ratios (count)", self.regulator_stages, 0, 16)
        check_int("config.yaml: flow.length_regulator.groups", self.regulator_groups, 1, MAX_WIDTH)
        check_float("config.yaml: flow.decoder.cfm_params.inference_cfg_rate", self.inference_cfg_rate, 0.0, 100.0)
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
        w = "config.yaml: hift"
        check_int(f"{w}.base_channels", self.base_channels, 1, MAX_WIDTH)
        check_int(f"{w}.nb_harmonics", self.nb_harmonics, 0, 256)
        check_int(f"{w}.istft_params.n_fft", self.n_fft, 2, 65536)
        check_int(f"{w}.istft_params.hop_len", self.hop_len, 1, 65536)
        check_int(f"{w}.f0_predictor.cond_channels", self.f0_cond_channels, 1, MAX_WIDTH)
        for name, value in (("nsf_alpha", self.nsf_alpha), ("nsf_sigma", self.nsf_sigma),
                            ("nsf_voiced_threshold", self.nsf_voiced_threshold), ("lrelu_slope", self.lrelu_slope),
                            ("audio_limit", self.audio_limit)):
            check_float(f"{w}.{name}", value, 0.0, 1e6)
        lists = (("upsample_rates", self.upsample_rates, 1, 64), ("upsample_kernel_sizes", self.upsample_kernel_sizes,
                 1, 1023), ("resblock_kernel_sizes", self.resblock_kernel_sizes, 1, 1023),
                 ("source_resblock_kernel_sizes", self.source_resblock_kernel_sizes, 1, 1023))
        for name, values, lo, hi in lists:
            _require(len(values) <= 16, f"hift.{name}: at most 16 entries")
            for v in values:
                check_int(f"{w}.{name}", v, lo, hi)
        for name, nested in (("resblock_dilation_sizes", self.resblock_dilation_sizes),
                             ("source_resblock_dilation_sizes", self.source_resblock_dilation_sizes)):
            _require(len(nested) <= 16 and all(len(d) <= 16 for d in nested), f"hift.{name}: at most 16x16")
            for v in (x for d in nested for x in d):
                check_int(f"{w}.{name}", v, 1, 1024)
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
        if Path(path).stat().st_size > MAX_CONFIG_BYTES:
            raise CheckpointError(f"decoder config {path} is over {MAX_CONFIG_BYTES // 1000} KB; is it a config.yaml?")
        raw = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_TagKeepingLoader)  # noqa: S506
    except OSError as err:
        raise CheckpointError(f"cannot read decoder config {path} ({err.strerror})"
                              + ("; check its permissions" if isinstance(err, PermissionError) else "")) from None
    except UnicodeDecodeError:
        raise CheckpointError(f"decoder config {path} is not a text file (not UTF-8)") from None
    except RecursionError:  # the YAML composer recurses once per nesting level
        raise CheckpointError(f"decoder config {path} is nested too deeply to be a config.yaml") from None
    except yaml.YAMLError as err:
        raise CheckpointError(f"decoder config {path} is not valid YAML: {str(err).splitlines()[0]}") from err
    if not isinstance(raw, dict):
        raise CheckpointError(f"decoder config {path} is not a YAML mapping")
    resolved = _RefResolver(raw, str(path)).resolve(raw)
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


class _RefResolver:
    """Replaces `!ref <key>` by the top-level value `key` (other tags stay `Tagged` data), within budgets: a
    cyclic !ref, a self-referencing alias, or aliases that expand exponentially raise CheckpointError."""

    def __init__(self, root: dict, path: str) -> None:
        self.root, self.path = root, path
        self.nodes = 0
        self.resolving: list[str] = []

    def resolve(self, node: Any, depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise CheckpointError(f"decoder config {self.path} expands to over {MAX_NODES} values (YAML aliases?)")
        if depth > MAX_DEPTH:
            raise CheckpointError(f"decoder config {self.path} nests deeper than {MAX_DEPTH} levels "
                                  f"(a self-referencing alias?)")
        if isinstance(node, Tagged):
            if node.tag == "!ref":
                return self._lookup(str(node.value), depth)
            return Tagged(node.tag, self.resolve(node.value, depth + 1))
        if isinstance(node, dict):
            return {k: self.resolve(v, depth + 1) for k, v in node.items()}
        if isinstance(node, list):
            return [self.resolve(v, depth + 1) for v in node]
        return node

    def _lookup(self, expr: str, depth: int) -> Any:
        name = expr.strip()
        if not (name.startswith("<") and name.endswith(">")) or name[1:-1] not in self.root:
            raise CheckpointError(
                f"unsupported decoder config: cannot resolve '!ref {expr}' (only '<top_level_key>')"
            )
        key = name[1:-1]
        if key in self.resolving:
            cycle = " -> ".join([*self.resolving[self.resolving.index(key):], key])
            raise CheckpointError(f"decoder config {self.path}: '!ref' cycle {cycle}")
        self.resolving.append(key)
        try:
            return self.resolve(self.root[key], depth + 1)
        finally:
            self.resolving.pop()


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
        if kind is float and not math.isfinite(float(value)):
            raise ValueError(value)
        return kind(float(value)) if kind in (int, float) else kind(value)
    except (TypeError, ValueError, OverflowError) as err:
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
