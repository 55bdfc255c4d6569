"""Test-side names for the tiny training datasets (the writers live in testing/tiny_dataset.py)."""

from __future__ import annotations

from pathlib import Path

from testing.tiny_dataset import RowSpec, unit_string, write_dataset
from testing.tiny_dataset import example_row as _row

__all__ = ["example_row", "unit_string", "write_dataset"]


def example_row(i: int, audio: str | None, folder: Path | None = None) -> dict:
    """A row with a user text turn, or pointing at `audio` (which need not exist)."""
    row = _row(i, RowSpec(), folder or Path("."))
    if audio:
        row["messages"][0]["content"] = [{"text": "", "audio": audio, "speech_units": "", "spk_emb": ""}]
    return row
