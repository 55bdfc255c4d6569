"""The training loop on accelerate: one process or many (`accelerate launch` / `torchrun`), DDP, FSDP or DeepSpeed.

Per optimizer step the global batch (batch_size x grad_accum x processes examples) is a fixed slice of a seeded
per-epoch permutation, and the loss is normalised by the target tokens of the whole global batch:

    step loss = sum(LLM token CE) / N_llm + sum(TTS token CE) / N_tts    (N over the global batch)

so how the batch is split across processes and micro-batches does not change the update. Every trainable parameter
joins the graph with weight 0 (as the reference's dummy passes do), so DDP sees gradients for all of them on batches
without audio or units.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType, set_seed
from torch import nn
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from core.training.collate import Batch, Collator
from core.training.config import TrainConfig
from core.training.export import remove_leftovers, staged_export, write_export
from core.training.loss import base_causal_lm, batch_losses
from core.training.outdir import METRICS_FILE, check_out
from core.training.setup import load_training_set, make_collator
from core.training.stages import apply_stage, is_lora, merge_lora, save_adapter
from core.training.state import load_state, save_state
from core.training.steps import CHECKPOINTS_DIR, prune, remove_temporaries, resolve_auto, save_step
from models.checkpoint import load_checkpoint
from models.errors import UserError
from models.opens2s import OpenS2SModel

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class LossModule(nn.Module):
    """What accelerate wraps: forward(batch) -> (llm CE sum, tts CE sum)."""

    def __init__(self, model: OpenS2SModel):
        super().__init__()
        self.model = model

    def forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        sums = batch_losses(self.model, batch)
        ghost = sum(p.reshape(-1)[0] for p in self.model.parameters() if p.requires_grad) * 0.0
        return sums.llm_sum + ghost, sums.tts_sum


@dataclass(frozen=True)
class StepResult:
    step: int
    loss: float
    llm_loss: float
    tts_loss: float
    grad_norm: float
    lr: float
    tokens: int


class Trainer:
    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        cpu = cfg.device == "cpu" or not torch.cuda.is_available()
        bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and not cpu)
        self.acc = Accelerator(cpu=cpu, mixed_precision="bf16" if bf16 else "no")
        check_out(cfg, announce=self.acc.is_main_process)  # refusals before any work
        self.out = Path(cfg.out).expanduser()
        self.last_state: Path | None = None  # the newest complete step folder this run can be resumed from
        self.step = 0  # steps done so far
        set_seed(cfg.seed)
        kind = self.acc.distributed_type
        # FSDP flattens frozen and trainable weights together, so they must share a dtype: fp32 + its bf16 policy
        self.frozen_dtype = torch.bfloat16 if bf16 and kind != DistributedType.FSDP else torch.float32
        if kind == DistributedType.DEEPSPEED:  # not run here (see docs/training.md): DeepSpeed owns accumulation
            ds = self.acc.state.deepspeed_plugin.deepspeed_config
            ds["train_micro_batch_size_per_gpu"] = cfg.batch_size
            ds["gradient_accumulation_steps"] = cfg.grad_accum
            ds["gradient_clipping"] = cfg.max_grad_norm
            ds.pop("train_batch_size", None)
        # accelerate names the CPU "cpu:0" under torchrun, which safetensors refuses
        self.device = torch.device("cpu") if self.acc.device.type == "cpu" else self.acc.device
        self.ckpt = load_checkpoint(cfg.checkpoint, self.device, self.frozen_dtype)
        self.train_set = load_training_set(self.ckpt, cfg.data)
        self.eval_set = load_training_set(self.ckpt, cfg.eval_data) if cfg.eval_data else None
        self.collator: Collator = make_collator(self.ckpt)
        model = self.ckpt.model
        if cfg.stage == "lora" and self.acc.distributed_type == DistributedType.FSDP:
            raise UserError("--stage lora with FSDP is not supported; use DDP or DeepSpeed for LoRA")
        apply_stage(model, cfg.stage, cfg.lora)
        for p in model.parameters():
            if p.requires_grad:
                p.data = p.data.float()  # trainable weights and their optimizer state stay fp32 (bf16 autocast)
        if cfg.grad_checkpointing:
            for lm in (base_causal_lm(model.llm_model), model.tts_lm_model):
                lm.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        model.train()
        self.global_batch = cfg.batch_size * cfg.grad_accum * self.acc.num_processes
        self.steps_per_epoch = len(self.train_set.examples) // self.global_batch
        if self.steps_per_epoch < 1:
            raise UserError(f"{cfg.data}: {len(self.train_set.examples)} usable example(s) but one step needs "
                            f"{self.global_batch} (batch size x grad accumulation x processes)")
        self.total_steps = cfg.max_steps or cfg.epochs * self.steps_per_epoch
        params = [p for p in model.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
                  {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
        optimizer = torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(0.9, 0.999), eps=1e-8)
        # the scheduler is not handed to accelerate: it would step once per process per step
        self.scheduler = get_linear_schedule_with_warmup(optimizer, cfg.warmup_steps, self.total_steps)
        self.module, self.optimizer = self.acc.prepare(LossModule(model), optimizer)
        self.params = params
        self._deepspeed = kind == DistributedType.DEEPSPEED
        self.start_step = 0
        if cfg.resume:
            folder = resolve_auto(self.out) if cfg.resume == "auto" else Path(cfg.resume).expanduser()
            self.start_step = load_state(folder, self.acc, self.module, self.optimizer, self.scheduler,
                                         cfg.resume_meta())
            self.last_state = folder
        self.step = self.start_step

    # ---- data order -------------------------------------------------------------------------------------------
    def step_examples(self, step: int) -> list[list]:
        """This process's micro-batches of global step `step`."""
        epoch, k = divmod(step, self.steps_per_epoch)
        gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.train_set.examples), generator=gen).tolist()
        chunk = order[k * self.global_batch:(k + 1) * self.global_batch]
        per_process = self.cfg.batch_size * self.cfg.grad_accum
        mine = chunk[self.acc.process_index * per_process:(self.acc.process_index + 1) * per_process]
        b = self.cfg.batch_size
        return [[self.train_set.examples[i] for i in mine[j:j + b]] for j in range(0, per_process, b)]

    # ---- one step ---------------------------------------------------------------------------------------------
    def train_step(self, step: int) -> StepResult:
        dev = self.device
        batches = [self.collator(exs).to(dev, self.frozen_dtype) for exs in self.step_examples(step)]
        counts = torch.tensor([sum(b.n_llm_targets for b in batches), sum(b.n_tts_targets for b in batches)],
                              device=dev, dtype=torch.float64)
        n_llm, n_tts = self.acc.reduce(counts, "sum").tolist()
        world = self.acc.num_processes
        parts = torch.zeros(2, device=dev, dtype=torch.float64)
        for i, batch in enumerate(batches):
            last = i == len(batches) - 1
            with self.acc.no_sync(self.module) if not (last or self._deepspeed) else _nullcontext():
                with self.acc.autocast():  # the forward only: feature extraction must stay float32
                    llm_sum, tts_sum = self.module(batch)
                llm = llm_sum / max(n_llm, 1.0)
                tts = tts_sum / n_tts if n_tts else tts_sum * 0.0
                scale = world * (self.cfg.grad_accum if self._deepspeed else 1)  # DeepSpeed divides by its GAS
                self.acc.backward((llm + tts) * scale)  # DDP averages over processes; we want the global sum
            parts += torch.stack([llm.detach().double(), tts.detach().double()])
        grad_norm = None if self._deepspeed else self.acc.clip_grad_norm_(self.params, self.cfg.max_grad_norm)
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        llm_loss, tts_loss = self.acc.reduce(parts, "sum").tolist()
        return StepResult(step=step + 1, loss=llm_loss + tts_loss, llm_loss=llm_loss, tts_loss=tts_loss,
                          grad_norm=float("nan") if grad_norm is None else float(grad_norm), lr=lr,
                          tokens=int(n_llm + n_tts))

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Token-mean loss over the whole eval file (sharded across processes)."""
        model = self.acc.unwrap_model(self.module).model
        model.eval()
        mine = self.eval_set.examples[self.acc.process_index::self.acc.num_processes]
        sums = torch.zeros(4, device=self.device, dtype=torch.float64)
        for i in range(0, len(mine), self.cfg.batch_size):
            batch = self.collator(mine[i:i + self.cfg.batch_size]).to(self.device, self.frozen_dtype)
            with self.acc.autocast():
                s = batch_losses(model, batch)
            sums += torch.tensor([float(s.llm_sum), s.llm_count, float(s.tts_sum), s.tts_count],
                                 device=self.device, dtype=torch.float64)
        model.train()
        llm_sum, llm_n, tts_sum, tts_n = self.acc.reduce(sums, "sum").tolist()
        llm, tts = llm_sum / max(llm_n, 1), (tts_sum / tts_n if tts_n else 0.0)
        return {"eval_loss": llm + tts, "eval_llm_loss": llm, "eval_tts_loss": tts}

    # ---- the run ----------------------------------------------------------------------------------------------
    def run(self) -> Path:
        cfg, acc = self.cfg, self.acc
        out = self.out
        if acc.is_main_process:
            remove_leftovers(out)
            remove_temporaries(out / CHECKPOINTS_DIR)
        acc.wait_for_everyone()
        metrics = _MetricsLog(out / METRICS_FILE, acc.is_main_process, keep_until=self.start_step)
        metrics.write({"step": self.start_step, "event": "start", "stage": cfg.stage,
                       "num_processes": acc.num_processes, "global_batch": self.global_batch,
                       "total_steps": self.total_steps, "examples": len(self.train_set.examples),
                       "skipped_examples": self.train_set.n_skipped})
        bar = tqdm(total=self.total_steps, initial=self.start_step, disable=not (acc.is_main_process and
                                                                                  cfg.progress), unit="step")
        t0 = time.perf_counter()
        for step in range(self.start_step, self.total_steps):
            res = self.train_step(step)
            self.step = res.step
            metrics.write({**res.__dict__, "elapsed_s": round(time.perf_counter() - t0, 3)})
            bar.update(1)
            bar.set_postfix(loss=f"{res.loss:.4f}", lr=f"{res.lr:.2e}")
            if self.eval_set and cfg.eval_every and res.step % cfg.eval_every == 0:
                metrics.write({"step": res.step, **self.evaluate()})
            if cfg.save_every and res.step % cfg.save_every == 0 and res.step < self.total_steps:
                self.save(res.step)
        bar.close()
        if self.eval_set and (not cfg.eval_every or self.total_steps % cfg.eval_every):
            metrics.write({"step": self.total_steps, **self.evaluate()})
        return self.export(out)

    def save(self, step: int) -> Path:
        """A resumable state in OUT/checkpoints/step-N (atomic); older ones of this run pruned to --keep-checkpoints."""
        cfg, checkpoints = self.cfg, self.out / CHECKPOINTS_DIR
        folder = save_step(checkpoints, step, self.acc, lambda tmp: save_state(
            tmp, self.acc, self.module, self.optimizer, self.scheduler, step, cfg.resume_meta()))
        self.last_state = folder
        if self.acc.is_main_process:
            prune(checkpoints, folder, cfg.keep_checkpoints, cfg.resume_meta())
        self.acc.wait_for_everyone()
        return folder

    def export(self, out: Path) -> Path:
        """The released-layout export, staged and swapped into OUT by the main process (see export.py)."""
        acc, cfg = self.acc, self.cfg
        acc.wait_for_everyone()
        main = acc.is_main_process
        with staged_export(out) if main else _nullcontext() as stage:
            if acc.distributed_type == DistributedType.FSDP:
                state = {k.removeprefix("model."): v for k, v in acc.get_state_dict(self.module).items()}
            else:
                model = acc.unwrap_model(self.module).model
                if main and cfg.save_adapter and is_lora(model):  # before the merge; swapped in with the model
                    save_adapter(model, stage, self.ckpt.path)
                merge_lora(model)
                state = model.state_dict() if main else {}
            if main:
                dtype = DTYPES[cfg.save_dtype] if cfg.save_dtype else self.frozen_dtype
                write_export(state, self.ckpt.config, self.ckpt.path, stage, dtype, cfg.max_shard_size)
        acc.wait_for_everyone()
        return out


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


class _MetricsLog:
    """JSON lines; on resume, rows after the resumed step (from the interrupted run) are dropped."""

    def __init__(self, path: Path, active: bool, keep_until: int):
        self.path, self.active = path, active
        if not active:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = []
        if keep_until and path.is_file():
            rows = [r for r in path.read_text().splitlines() if r and json.loads(r).get("step", 0) <= keep_until]
        path.write_text("".join(r + "\n" for r in rows))

    def write(self, row: dict) -> None:
        if self.active:
            with self.path.open("a") as f:
                f.write(json.dumps(row) + "\n")
