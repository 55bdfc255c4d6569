"""Fine-tuning OpenS2S: the jsonl data format, batches, the training loss, the accelerate trainer, LoRA and the
checkpoint writer (docs/training.md)."""
