"""The training memory plan for the released 8B OpenS2S (core/training/memory.py), from parameter counts.

Dimensions: audio encoder, adapter and LLM from the released config.json as docs/opens2s-checkpoint-spec.md quotes
it (Qwen2-Audio encoder 32 x 1280, Qwen3-8B LLM, vocab 151673). The TTS LM's size is not published in a form we
could read, so two Qwen3 sizes are shown (0.6B-like and 1.7B-like, vocab 151669 + 16384 units).

    python bench/memory_plan_8b.py [--positions 1024] [--batch-size 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transformers import Qwen2AudioEncoderConfig, Qwen3Config  # noqa: E402

from core.training.memory import GIB, Workload, memory_plan  # noqa: E402
from models.config import OpenS2SConfig  # noqa: E402

TTS_SIZES = {  # hidden, layers, heads, kv heads, intermediate
    "TTS 0.6B-like": (1024, 28, 16, 8, 3072),
    "TTS 1.7B-like": (2048, 28, 16, 8, 6144),
}


def released_like(tts: tuple[int, int, int, int, int]) -> OpenS2SConfig:
    h, layers, heads, kv, inter = tts
    return OpenS2SConfig(
        audio_encoder=Qwen2AudioEncoderConfig(d_model=1280, encoder_layers=32, encoder_attention_heads=20,
                                              encoder_ffn_dim=5120, num_mel_bins=128, max_source_positions=1500),
        llm=Qwen3Config(vocab_size=151673, hidden_size=4096, intermediate_size=12288, num_hidden_layers=36,
                        num_attention_heads=32, num_key_value_heads=8, head_dim=128, tie_word_embeddings=False),
        tts_lm=Qwen3Config(vocab_size=151669 + 16384, hidden_size=h, intermediate_size=inter, num_hidden_layers=layers,
                           num_attention_heads=heads, num_key_value_heads=kv, head_dim=128,
                           tie_word_embeddings=True),
        conv_kernel_sizes=(5, 5), adapter_inner_dim=512, text_span=4, speech_span=8,
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--positions", type=int, default=1024, help="LLM positions per example")
    p.add_argument("--tts-positions", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=1)
    args = p.parse_args()
    print("| TTS LM | stage | checkpointing | params (trainable) | weights | grads | AdamW | activations | total GiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, dims in TTS_SIZES.items():
        config = released_like(dims)
        for stage, ckpt in (("lora", True), ("lora", False), ("bridge", True), ("full", True)):
            work = Workload(batch_size=args.batch_size, llm_positions=args.positions,
                            tts_positions=args.tts_positions, grad_checkpointing=ckpt)
            plan = memory_plan(config, stage, work, frozen_bytes=2)
            print(f"| {name} | {stage} | {'yes' if ckpt else 'no'} | {plan.total_params / 1e9:.2f} B "
                  f"({plan.trainable_params / 1e6:.1f} M) | {plan.weights_bytes / GIB:.1f} | "
                  f"{plan.grads_bytes / GIB:.2f} | {plan.optimizer_bytes / GIB:.2f} | "
                  f"{plan.activation_bytes / GIB:.2f} | {plan.total_bytes / GIB:.1f} |")


if __name__ == "__main__":
    main()
