"""`train`: fine-tune an OpenS2S checkpoint on an OpenS2S jsonl; the result is a checkpoint in the released layout.

Works the same under `accelerate launch main.py train ...` or `torchrun --nproc_per_node N main.py train ...`.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from pathlib import Path

from core.training.config import DEFAULT_LR, TrainConfig
from core.training.stages import STAGES, LoraSpec

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="fine-tune a checkpoint (bridge, full or LoRA) into a new checkpoint")
    p.add_argument("--checkpoint", required=True, help="the OpenS2S checkpoint to start from")
    p.add_argument("--data", required=True, help="training jsonl (OpenS2S format)")
    p.add_argument("--out", required=True,
                   help="output folder: the trained checkpoint (released layout), metrics.jsonl, checkpoints/step-N")
    p.add_argument("--stage", choices=STAGES, default="lora",
                   help="bridge: adapter + LLM<->TTS projections (reference stage 1); full: + the whole LLM and "
                        "TTS LM (stage 2); lora: LoRA on the LLM's q/k/v/o + adapter + projections")
    p.add_argument("--eval-data", help="jsonl for the periodic eval loss")
    p.add_argument("--lr", type=float, default=None,
                   help="peak learning rate (default: " + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items()) + ")")
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--warmup-steps", type=int, default=0)
    p.add_argument("--max-steps", type=int, default=None, help="default: --epochs passes over the data")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=1, help="examples per process and micro-batch")
    p.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step")
    p.add_argument("--max-grad-norm", type=float, default=1.0)
    p.add_argument("--eval-every", type=int, default=0, help="steps between eval losses (0: at the end)")
    p.add_argument("--save-every", type=int, default=0, help="steps between resumable training states")
    p.add_argument("--keep-checkpoints", type=int, default=2,
                   help="newest resumable states kept (older ones of this run are deleted once a newer one is "
                        "complete; 0: keep all)")
    p.add_argument("--resume", help="a <out>/checkpoints/step-N folder, or 'auto' for the latest complete one")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--grad-checkpointing", action="store_true", help="recompute activations (less memory)")
    p.add_argument("--lora-r", type=int, default=16)
    p.add_argument("--lora-alpha", type=int, default=16)
    p.add_argument("--lora-dropout", type=float, default=0.05)
    p.add_argument("--save-adapter", action="store_true", help="also write <out>/adapter (peft LoRA + bridge)")
    p.add_argument("--save-dtype", choices=("float32", "bfloat16", "float16"), default=None,
                   help="weights dtype of the output (default: bfloat16 on CUDA, float32 on CPU)")
    p.add_argument("--max-shard-size", default="5GB")
    p.add_argument("--device", choices=("cpu", "auto"), default="auto", help="cpu forces the CPU (gloo)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="auto: bf16 (frozen weights + autocast; trainable weights fp32) on CUDA, fp32 on CPU")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (the metrics log is still written)")
    p.set_defaults(func=run, train_parser=p)


def run(args: argparse.Namespace) -> int:
    from core.training.trainer import Trainer  # accelerate/peft load only for this command

    cfg = TrainConfig(
        checkpoint=Path(args.checkpoint), data=Path(args.data), out=Path(args.out), stage=args.stage,
        eval_data=Path(args.eval_data) if args.eval_data else None, lr=args.lr, weight_decay=args.weight_decay,
        warmup_steps=args.warmup_steps, max_steps=args.max_steps, epochs=args.epochs, batch_size=args.batch_size,
        grad_accum=args.grad_accum, max_grad_norm=args.max_grad_norm, eval_every=args.eval_every,
        save_every=args.save_every, keep_checkpoints=args.keep_checkpoints, seed=args.seed,
        grad_checkpointing=args.grad_checkpointing,
        lora=LoraSpec(r=args.lora_r, alpha=args.lora_alpha, dropout=args.lora_dropout),
        save_adapter=args.save_adapter, resume=args.resume, device=None if args.device == "auto" else "cpu",
        save_dtype=args.save_dtype, precision=args.precision, max_shard_size=args.max_shard_size,
        progress=not args.no_progress,
    )
    trainer = None
    try:
        trainer = Trainer(cfg)
        out = trainer.run()
    except KeyboardInterrupt:
        if trainer.acc.is_main_process if trainer is not None else os.environ.get("RANK", "0") == "0":
            print(interrupted_line(args, cfg, trainer), file=sys.stderr, flush=True)
        return 130
    if trainer.acc.is_main_process:
        print(f"wrote {out} ({trainer.total_steps} steps, stage {cfg.stage}); metrics in {out / 'metrics.jsonl'}")
    return 0


def resume_command(args: argparse.Namespace, resume: str | None) -> str:
    """`main.py train ...` with this run's flags (defaults left out) and `--resume` replaced by `resume`."""
    words = ["main.py", "train"]
    for action in args.train_parser._actions:  # argparse keeps no public list of a parser's flags
        if not action.option_strings or action.dest == "help":
            continue
        value = getattr(args, action.dest)
        if action.dest == "resume" or value is None or value == action.default:
            continue
        flag = action.option_strings[-1]
        words += [flag] if action.nargs == 0 else [flag, str(value)]
    if resume:
        words += ["--resume", resume]
    return shlex.join(words)


def interrupted_line(args: argparse.Namespace, cfg: TrainConfig, trainer) -> str:
    """One line: what an interrupted run saved, and the command that goes on from there."""
    from core.training.steps import CHECKPOINTS_DIR, latest_complete

    out = Path(cfg.out).expanduser()
    if trainer is not None:
        state, at = trainer.last_state, f"at step {trainer.step} of {trainer.total_steps}"
    else:  # interrupted while loading: a resumed run's state is still where it was
        state, at = (latest_complete(out / CHECKPOINTS_DIR)[0] if cfg.resume == "auto" else
                     Path(cfg.resume).expanduser() if cfg.resume else None), "while loading"
    model = f"the previous model in {out} is unchanged" if (out / "config.json").is_file() else "no model exported"
    if state is None:
        return (f"interrupted {at}: no resumable state was saved (--save-every N saves one every N steps); {model}; "
                f"start again with: {resume_command(args, None)}")
    inside = state.parent.resolve() == (out / CHECKPOINTS_DIR).resolve()
    return (f"interrupted {at}: the last complete state is {state}; {model}; resume with: "
            f"{resume_command(args, 'auto' if inside else str(state))}")
