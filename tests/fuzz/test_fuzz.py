"""Every fuzz case ends "ok" (exit 0, a correct result) or "one line" (exit 2, one clear line) within its bound.

`FUZZ_TABLE=/tmp/fuzz.md ./test tests/fuzz` also writes the cases × verdicts table for docs/reliability.md."""

from __future__ import annotations

import pytest

from testing.fuzz import PASSING, Kit, verdict
from tests.fuzz.cases import all_cases

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_ends_in_a_result_or_one_line(case, cli_worker, fuzz_shared, fuzz_table, tmp_path):
    kit = Kit(tmp_path / "case", fuzz_shared)
    argv = case.make(kit)
    outcome = cli_worker.run(argv, timeout_s=case.timeout_s, cwd=kit.folder)
    result, detail = verdict(case, outcome, kit.folder)
    fuzz_table.rows.append((case, result, detail.replace(str(kit.folder), "CASE"), outcome.seconds))
    assert result == case.expect, f"{case.id}: {result}: {detail}"
    assert result in PASSING
