"""The weights option: how the LM weights are stored (`full`, `int8`, `int4`). Torch-free, so settings and command
parsers can validate it without importing torch; the quantization itself is in `models.quantize`."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from models.errors import UserError

log = logging.getLogger(__name__)

FULL, INT8, INT4 = "full", "int8", "int4"
WEIGHT_KINDS = (FULL, INT8, INT4)
# torchao (which transformers imports whenever it is installed) logs a warning per optional CUDA extension it cannot
# load, and torch warns about an Enum torchao registers; neither matters for the weight-only configs used here
NOISY_IMPORT_LOGGERS = ("torchao", "torch.utils._pytree")


class WeightsOptionError(UserError, ValueError):
    """An invalid or unsupported weights choice (a ValueError for settings validation, a UserError for the CLI)."""


@dataclass(frozen=True)
class WeightsOption:
    """How the LM weights are stored. `full`: the compute dtype (bf16 on CUDA, fp32 on CPU); `int8`: int8 per
    output row + one scale per row; `int4`: 4-bit groups of 128 with a bf16 scale and zero point each (CUDA only).
    Only the transformer blocks' Linear layers of the LLM (and, by default, the TTS LM) are quantized."""

    kind: str = FULL
    include_tts_lm: bool = True  # the TTS LM's blocks too (the LLM's always)

    def __post_init__(self) -> None:
        if self.kind not in WEIGHT_KINDS:
            raise WeightsOptionError(f"unknown weights option {self.kind!r}; use one of {', '.join(WEIGHT_KINDS)}")

    @classmethod
    def parse(cls, value: str | WeightsOption | None) -> WeightsOption:
        if isinstance(value, WeightsOption):
            return value
        return cls() if value in (None, "", "auto") else cls(str(value).strip().lower())

    @property
    def quantized(self) -> bool:
        return self.kind != FULL

    @property
    def lms(self) -> tuple[str, ...]:
        return ("llm", "tts") if self.include_tts_lm else ("llm",)
