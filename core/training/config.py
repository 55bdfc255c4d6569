"""Settings of one training run (validated once, frozen)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.training.stages import STAGES, LoraSpec
from models.errors import UserError

DEFAULT_LR = {"bridge": 1e-4, "full": 2e-5, "lora": 1e-4}  # the reference's stage 1 / stage 2 rates; LoRA as stage 1


@dataclass(frozen=True)
class TrainConfig:
    checkpoint: Path
    data: Path
    out: Path
    stage: str = "lora"
    eval_data: Path | None = None
    lr: float | None = None  # None: DEFAULT_LR[stage]
    weight_decay: float = 0.05
    warmup_steps: int = 0
    max_steps: int | None = None  # None: `epochs` passes over the data
    epochs: int = 1
    batch_size: int = 1  # per process and micro-batch
    grad_accum: int = 1
    max_grad_norm: float = 1.0
    eval_every: int = 0  # steps; 0 = only at the end (when eval data is given)
    save_every: int = 0  # steps; 0 = no intermediate training states
    keep_checkpoints: int = 2  # newest step folders of this run kept; 0 = all
    seed: int = 1
    grad_checkpointing: bool = False
    lora: LoraSpec = field(default_factory=LoraSpec)
    save_adapter: bool = False
    resume: str | None = None  # a step-N folder, or "auto" = the latest under <out>/checkpoints
    device: str | None = None  # "cpu" forces the CPU; otherwise accelerate's choice
    precision: str = "auto"  # auto: bf16 autocast + bf16 frozen weights on CUDA, fp32 on CPU; or "fp32" / "bf16"
    save_dtype: str | None = None  # None: bfloat16 when training on CUDA, else float32
    max_shard_size: str = "5GB"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise UserError(f"--stage {self.stage!r}: choose one of {', '.join(STAGES)}")
        for name in ("batch_size", "grad_accum", "epochs"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1")
        for name in ("warmup_steps", "eval_every", "save_every", "keep_checkpoints"):
            if getattr(self, name) < 0:
                raise UserError(f"--{name.replace('_', '-')} must not be negative")
        if self.max_steps is not None and self.max_steps < 1:
            raise UserError("--max-steps must be at least 1")
        if self.learning_rate <= 0 or self.weight_decay < 0 or self.max_grad_norm <= 0:
            raise UserError("--lr and --max-grad-norm must be positive, --weight-decay not negative")
        if self.save_adapter and self.stage != "lora":
            raise UserError("--save-adapter needs --stage lora")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise UserError("--precision: auto, fp32 or bf16")
        if self.save_dtype not in (None, "float32", "bfloat16", "float16"):
            raise UserError("--save-dtype: float32, bfloat16 or float16")

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.stage]

    def resume_meta(self) -> dict:
        """Settings a resumed run must share with the saved one (else data order or updates would differ)."""
        return {"stage": self.stage, "seed": self.seed, "batch_size": self.batch_size, "grad_accum": self.grad_accum,
                "data": str(Path(self.data).resolve())}
