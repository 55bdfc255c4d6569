"""Collects CASES from every tests/fuzz/cases_*.py module (one per kind of input, owned by its stage's work)."""

from __future__ import annotations

import importlib
from pathlib import Path

from testing.fuzz import Case


def all_cases() -> list[Case]:
    cases: list[Case] = []
    for path in sorted(Path(__file__).parent.glob("cases_*.py")):
        cases.extend(importlib.import_module(f"tests.fuzz.{path.stem}").CASES)
    ids = [c.id for c in cases]
    duplicated = {i for i in ids if ids.count(i) > 1}
    if duplicated:
        raise ValueError(f"fuzz case ids must be unique: {sorted(duplicated)}")
    return cases
