"""The fuzz rig: run `main.py COMMAND ...` cases in one long-lived worker process and judge each outcome.

A case builds its (bad) inputs under a folder and returns the command line. The worker (`testing.fuzz_worker`)
runs each command in-process, as `main.py` would, with stdout/stderr captured and a memory cap; the parent kills
and restarts it when a case runs past its time bound. Verdicts:

- "ok": exit 0 (and the case's own check of the result passed);
- "one line": exit 2 and exactly one stderr line, starting "error: " (and naming what the case says it should);
- anything else is a failure: "traceback", "hang", "unexpected" (the CLI's last line of defence caught it: a bug),
  "silent" (exit 0 where one line was expected), "wrong" (the check failed), "noisy" (more than one line).
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

OK = "ok"
ONE_LINE = "one line"
PASSING = (OK, ONE_LINE)
DEFAULT_TIMEOUT_S = 60.0
MEMORY_CAP_BYTES = 10 * 1024**3  # address space of the worker: an absurd allocation fails instead of swapping


class Kit:
    """What a case builds from: its own empty `folder`, and fresh copies of tiny models in the released layouts
    (made once per run under `shared`, copied per case so a case may corrupt its copy)."""

    def __init__(self, folder: Path, shared: Path) -> None:
        self.folder, self.shared = folder, shared
        folder.mkdir(parents=True, exist_ok=True)

    def _pristine(self, name: str, make: Callable[[Path], object]) -> Path:
        place = self.shared / name
        if not (place / ".made").is_file():
            shutil.rmtree(place, ignore_errors=True)
            make(place)
            (place / ".made").touch()
        return place

    def _copy(self, name: str, make: Callable[[Path], object], dest: str | None) -> Path:
        out = self.folder / (dest or name)
        shutil.copytree(self._pristine(name, make), out, ignore=shutil.ignore_patterns(".made"))
        return out

    def checkpoint(self, dest: str | None = None) -> Path:
        from models.tiny_checkpoint import make_tiny_checkpoint

        return self._copy("checkpoint", lambda p: make_tiny_checkpoint(p, seed=0, shards=2), dest)

    def decoder(self, dest: str | None = None) -> Path:
        from models.tiny_decoder import make_tiny_decoder

        return self._copy("decoder", lambda p: make_tiny_decoder(p, seed=0), dest)

    def speech_tokenizer(self, dest: str | None = None) -> Path:
        from models.tiny_speech_tokenizer import write_tiny_speech_tokenizer

        return self._copy("speech_tokenizer", lambda p: write_tiny_speech_tokenizer(p, seed=0), dest)

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path


@dataclass(frozen=True)
class Outcome:
    rc: int | None  # None: killed after the time bound
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class Case:
    area: str  # what kind of input: "config.json", "make-data YAML", "audio file", ...
    name: str  # what is wrong with it
    make: Callable[[Kit], list[str]]  # builds the inputs in kit.folder; returns the command line after main.py
    expect: str = ONE_LINE
    says: tuple[str, ...] = ()  # substrings the one line must hold (case-insensitive), e.g. the key's name
    check: Callable[[Path, Outcome], str | None] | None = None  # for OK cases: None when the result is right
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def id(self) -> str:
        return f"{self.area}: {self.name}"


def verdict(case: Case, outcome: Outcome, folder: Path) -> tuple[str, str]:
    """(verdict, detail): detail is the user's line, or why the case failed."""
    lines = [ln for ln in outcome.stderr.splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    if outcome.rc is None:
        return "hang", f"no exit within {case.timeout_s:g} s"
    if "Traceback (most recent call last)" in outcome.stderr:
        return "traceback", last
    if outcome.rc == 1 and "unexpected" in last:
        return "unexpected", last
    if outcome.rc == 0:
        if case.expect == ONE_LINE:
            return "silent", f"exit 0 where a refusal was expected; stderr: {last!r}"
        problem = case.check(folder, outcome) if case.check else None
        return ("wrong", problem) if problem else (OK, last)
    if outcome.rc == 2:
        if len(lines) != 1 or not last.startswith("error: "):
            return "noisy", " | ".join(lines)[-400:]
        missing = [s for s in case.says if s.lower() not in last.lower()]
        if missing:
            return "wrong", f"the line does not name {missing}: {last}"
        return (ONE_LINE, last) if case.expect == ONE_LINE else ("refused", last)
    return f"exit {outcome.rc}", " | ".join(lines)[-400:]


class CliWorker:
    """One `python -m testing.fuzz_worker` process; restarted after a hang or a crash."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
        self.proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        root = Path(__file__).resolve().parents[1]
        env = {**self.env, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), self.env.get("PYTHONPATH")]))}
        return subprocess.Popen([sys.executable, "-m", "testing.fuzz_worker", str(MEMORY_CAP_BYTES)], cwd=root,
                                env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True, bufsize=1)

    def run(self, argv: list[str], timeout_s: float = DEFAULT_TIMEOUT_S, cwd: Path | None = None) -> Outcome:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        started = time.monotonic()
        self.proc.stdin.write(json.dumps({"argv": [str(a) for a in argv], "cwd": str(cwd or "")}) + "\n")
        self.proc.stdin.flush()
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            # the first case also pays for the worker's imports
            ready = sel.select(timeout=timeout_s + 30.0)
        line = self.proc.stdout.readline() if ready else ""
        if not line:  # hung, or died (e.g. killed by the kernel)
            died = self.proc.poll()
            self.close()
            if died is not None and time.monotonic() - started < timeout_s:
                return Outcome(rc=died, stderr=f"worker died with status {died}",
                               seconds=time.monotonic() - started)
            return Outcome(rc=None, seconds=time.monotonic() - started)
        result = json.loads(line)
        if result["seconds"] > timeout_s:
            return Outcome(rc=None, seconds=result["seconds"])
        return Outcome(**result)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@dataclass
class Table:
    """Rows of (case, verdict, detail, seconds) for docs/reliability.md."""

    rows: list[tuple[Case, str, str, float]] = field(default_factory=list)

    def markdown(self) -> str:
        out = ["| input | case | verdict | s | what the user sees |", "|---|---|---|---|---|"]
        for case, result, detail, seconds in self.rows:
            shown = detail.removeprefix("error: ").replace("|", "\\|")
            out.append(f"| {case.area} | {case.name} | {result} | {seconds:.1f} | {shown[:160]} |")
        return "\n".join(out)
