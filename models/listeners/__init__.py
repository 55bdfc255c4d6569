"""Checkpoint helpers for the listeners (tiny random checkpoints for tests and benchmarks)."""
