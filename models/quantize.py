"""Low-VRAM weights: int8 (or, on CUDA, int4) weight-only quantization of the LMs' transformer-block Linears.

The quantization itself is torchao's (`quantize_` with `Int8WeightOnlyConfig` / `Int4WeightOnlyConfig`); nothing
here computes a quantized matmul. The option itself is `models.weights.WeightsOption`. This module adds:

- `check_supported`: a one-line `UserError` before loading when torchao is missing or the device/dtype cannot run
  the kernel (torchao's int4 packing needs CUDA + bfloat16);
- `StreamingQuantizer`: a hook for `models.checkpoint.load_weights_strict` that quantizes each selected Linear the
  moment its tensor arrives from safetensors, so the full-precision LM never exists on the device at once (peak =
  the quantized model + one full-precision weight matrix);
- `storage_bytes`: bytes a module really holds, looking inside tensor subclasses (int8 data + scales).

Kept full precision: embeddings, both LM heads, norms, the audio encoder and adapter, `llm2tts` / `spk2tts`.
"""

from __future__ import annotations

import importlib.util
import logging

import torch
from torch import nn

from models.weights import INT4, INT8, NOISY_IMPORT_LOGGERS, WeightsOption, WeightsOptionError

log = logging.getLogger(__name__)

INT4_GROUP_SIZE = 128  # torchao's default group; 4096 / 12288 (Qwen3-8B) are multiples of it
INT4_DTYPE = torch.bfloat16  # the tile-packed (tinygemm) int4 layout takes bf16 weights only
INT8_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
LM_PREFIXES = {"llm": "llm_model", "tts": "tts_lm_model"}


def torchao_available() -> bool:
    return importlib.util.find_spec("torchao") is not None


def check_supported(option: WeightsOption, device: torch.device, dtype: torch.dtype) -> None:
    """Raise a one-line WeightsOptionError when `option` cannot run on `device` in `dtype`; call before loading."""
    if not option.quantized:
        return
    if not torchao_available():
        raise WeightsOptionError(f"--weights {option.kind} needs the torchao package: install it with "
                                 "`pip install torchao` into this environment (bash .ci/install does), or use "
                                 "--weights full")
    if option.kind == INT4 and device.type != "cuda":
        raise WeightsOptionError("--weights int4 needs a CUDA GPU (torchao's int4 kernel has no CPU version here); "
                                 "use --weights int8 on the CPU")
    if option.kind == INT4 and dtype != INT4_DTYPE:
        raise WeightsOptionError(f"--weights int4 needs --dtype bfloat16 (the int4 kernel takes bf16), not {dtype}")
    if option.kind == INT8 and dtype not in INT8_DTYPES:
        raise WeightsOptionError(f"--weights int8 works with float32, bfloat16 or float16, not {dtype}")


def _import_torchao():
    """torchao.quantization, imported with its optional-extension warnings silenced (restored afterwards)."""
    loggers = [logging.getLogger(name) for name in NOISY_IMPORT_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        import torchao.quantization as tq
    except ImportError as err:
        raise WeightsOptionError(f"torchao cannot be imported ({err}); reinstall it or use --weights full") from None
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
    return tq


def torchao_config(option: WeightsOption):
    """The torchao config for `option`. `set_inductor_config=False`: torchao would otherwise change process-wide
    torch._inductor settings, which this app does not use."""
    tq = _import_torchao()
    if option.kind == INT8:
        return tq.Int8WeightOnlyConfig(set_inductor_config=False)
    if option.kind == INT4:
        return tq.Int4WeightOnlyConfig(group_size=INT4_GROUP_SIZE, int4_packing_format="tile_packed_to_4d",
                                       set_inductor_config=False)
    raise ValueError(f"internal: no torchao config for {option.kind!r}")


def _eligible(linear: nn.Linear, option: WeightsOption) -> bool:
    """int4 groups need in_features divisible by the group size; int8 (per row) takes any shape."""
    return option.kind != INT4 or linear.in_features % INT4_GROUP_SIZE == 0


def quantizable_linears(model: nn.Module, option: WeightsOption) -> dict[str, nn.Linear]:
    """{state-dict weight key: Linear} of the selected LMs' transformer blocks (q/k/v/o, gate/up/down).

    Embeddings, LM heads and norms are outside `model.layers` and are not selected."""
    if not option.quantized:
        return {}
    selected, skipped = {}, 0
    for lm_name in option.lms:
        prefix = LM_PREFIXES[lm_name]
        blocks = getattr(model, prefix).model.layers
        for name, module in blocks.named_modules():
            if isinstance(module, nn.Linear):
                if _eligible(module, option):
                    selected[f"{prefix}.model.layers.{name}.weight"] = module
                else:
                    skipped += 1
    if skipped:
        log.info("%d Linear layers keep full precision (in_features not a multiple of %d for int4)", skipped,
                 INT4_GROUP_SIZE)
    return selected


class StreamingQuantizer:
    """`consume(key, tensor)`: if `key` is a selected Linear weight, put `tensor` into it and quantize it now.

    Used as `load_weights_strict(..., consume=q.consume)` on a meta-device model; `tensor` is already on the target
    device in the compute dtype, and the full-precision copy is dropped as soon as torchao returns."""

    def __init__(self, model: nn.Module, option: WeightsOption):
        self.option = option
        self._pending = quantizable_linears(model, option)
        self._config = torchao_config(option) if self._pending else None
        self.n_quantized = 0

    def consume(self, key: str, tensor: torch.Tensor) -> bool:
        linear = self._pending.pop(key, None)
        if linear is None:
            return False
        from torchao.quantization import quantize_

        linear.weight = nn.Parameter(tensor, requires_grad=False)  # [out, in], compute dtype, target device
        quantize_(linear, self._config)
        self.n_quantized += 1
        return True

    def finish(self, where: str) -> None:
        if self.n_quantized:
            log.info("%s: %d Linear weights stored as %s", where, self.n_quantized, self.option.kind)


def _tensor_bytes(t: torch.Tensor) -> int:
    """Bytes of a tensor's data; a tensor subclass (torchao) is flattened into its inner tensors."""
    flatten = getattr(type(t), "__tensor_flatten__", None)
    if flatten is not None and type(t) not in (torch.Tensor, nn.Parameter):
        names, _ = t.__tensor_flatten__()
        return sum(_tensor_bytes(getattr(t, n)) for n in names if getattr(t, n) is not None)
    return t.untyped_storage().nbytes() if not t.is_meta else 0


def storage_bytes(module: nn.Module) -> int:
    """Bytes of the parameters and buffers of `module`, each shared storage (tied heads) counted once."""
    seen, total = set(), 0
    for t in [*module.parameters(), *module.buffers()]:
        if id(t) in seen:
            continue
        seen.add(id(t))
        total += _tensor_bytes(t)
    return total
