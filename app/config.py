"""`CompanionConfig`: everything one companion is built from, as nested frozen dataclasses.

Each stage owns its part (core.turns / core.engine: turn-taking and audio; core.lm.sampling; core.voice.config;
core.listeners.config); this module adds only what the assembly itself needs: where the models are and how the
LM is computed. `app.assembly.build(config)` turns it into a ready companion; the command-line flags
(`app.flags`) and the window's settings (`app.settings`) are derived from these fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.engine.config import EngineConfig
from core.listeners.config import ListenersConfig
from core.lm.sampling import SamplingConfig
from core.options import opt
from core.voice.config import VoiceConfig
from models.weights import WEIGHT_KINDS

COMPUTE_DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class ModelSource:
    """Where the models are: a local folder or a Hugging Face hub id (downloaded with progress on first use)."""

    checkpoint: str | None = opt(None, "OpenS2S checkpoint: a folder, or a hub id such as CASIA-LM/OpenS2S")
    decoder: str | None = opt(None, "GLM-4-Voice decoder (the vocoder's checkpoint): a folder, or a hub id such "
                                    "as THUDM/glm-4-voice-decoder")


@dataclass(frozen=True)
class ComputeConfig:
    device: str = opt("auto", "compute device: auto (cuda when available), cpu, cuda, cuda:N")
    dtype: str | None = opt(None, "float32, bfloat16 or float16 (default: bfloat16 on CUDA, else float32)",
                            choices=DTYPES)
    weights: str = opt("full", "LM weight storage: full (the compute dtype), int8 (about half the memory of bf16), "
                               "int4 (CUDA only)", choices=WEIGHT_KINDS)

    def __post_init__(self) -> None:
        if self.device.split(":", 1)[0] not in COMPUTE_DEVICES:
            raise ValueError(f"device must be one of {COMPUTE_DEVICES} or cuda:N, got {self.device!r}")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.weights not in WEIGHT_KINDS:
            raise ValueError(f"weights must be one of {WEIGHT_KINDS}, got {self.weights!r}")

    @property
    def torch_device(self) -> str | None:
        """None = let the loader pick (CUDA when available)."""
        return None if self.device == "auto" else self.device


@dataclass(frozen=True)
class CompanionConfig:
    model: ModelSource = field(default_factory=ModelSource)
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    voice: VoiceConfig = field(default_factory=VoiceConfig)
    listeners: ListenersConfig = field(default_factory=ListenersConfig)
    warm_up: bool = opt(True, "run one tiny reply at load so the first turn is not slower")
