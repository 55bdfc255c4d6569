"""Refresh the hash-locked installs in requirements/ from pyproject.toml with uv (`pip install uv` gives it).

    python scripts/refresh_lock.py                         # add what pyproject gained, keep every other pin
    python scripts/refresh_lock.py --upgrade-package transformers   # move one package (repeatable)
    python scripts/refresh_lock.py --upgrade               # move everything to the newest allowed
    python scripts/refresh_lock.py --torch-cpu-wheels /opt/wheels    # a folder holding the CPU torch wheel

Writes requirements/cpu.txt (CPU torch from the PyTorch CPU wheels), requirements/cuda.txt (PyPI's torch, a
CUDA build, with its nvidia-* packages; every other pin copied from cpu.txt) and requirements/pipecat.txt
(pipecat-ai alone: .ci/install puts it in with --no-deps). Every lock targets CPython 3.11 on Linux x86_64.
The pins already in a lock file are kept unless told to upgrade, so a refresh changes only what it must.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
LOCK_DIR = ROOT / "requirements"
TARGET = ["--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_34"]
TORCH_VERSION = "2.13.0"
PIPECAT = "pipecat-ai==1.14.0"  # ships the Smart Turn v3 end-of-turn model; installed without its dependencies
# The PyTorch page listing every torch wheel; only torch is taken from it (PyPI has no +cpu builds).
TORCH_CPU_WHEELS = "https://download.pytorch.org/whl/torch/"
# pip runs the install (setuptools and wheel, which build the editable project, come from [build-system]).
TOOLS = ["pip"]
COMMAND = "python scripts/refresh_lock.py"


def project_requirements(pyproject: Path) -> list[str]:
    """The runtime dependencies, the dev extra and the build requirements of pyproject.toml, as written."""
    data = tomllib.loads(pyproject.read_text())
    project = data["project"]
    return (
        list(project["dependencies"])
        + list(project.get("optional-dependencies", {}).get("dev", []))
        + list(data["build-system"]["requires"])
    )


def find_uv() -> list[str]:
    uv = shutil.which("uv")
    if uv:
        return [uv]
    try:
        from uv import find_uv_bin  # the `uv` package from PyPI
    except ImportError:
        sys.exit("refresh_lock: uv not found; install it (`pip install uv`) and run this again")
    return [find_uv_bin()]


def pins_without_torch(lock: Path) -> str:
    """`name==version` lines of a lock, torch left out: constraints that keep the CUDA lock beside the CPU one."""
    pins = re.findall(r"^([A-Za-z0-9._-]+==\S+)", lock.read_text(), flags=re.M)
    return "\n".join(p for p in pins if not p.lower().startswith("torch==")) + "\n"


def compile_lock(
    uv: list[str], inputs: list[str], out: Path, extra: list[str], workdir: Path, label: str = "pyproject.toml"
) -> None:
    """One `uv pip compile` into `out`, with hashes, for the target platform; `inputs` are requirement lines,
    `label` says where they come from in the lock's comments."""
    name = out.stem
    infile = workdir / f"{name}.in"
    infile.write_text("\n".join(inputs) + "\n")
    cmd = [*uv, "pip", "compile", str(infile), "-o", str(out), "--generate-hashes", *TARGET,
           "--no-config", "--custom-compile-command", COMMAND, "--quiet", *extra]
    log.info("locking %s", out.relative_to(ROOT))
    if subprocess.run(cmd, cwd=ROOT).returncode != 0:
        sys.exit(f"refresh_lock: uv could not lock {out.name} (its message is above); {out.name} is unchanged")
    out.write_text(tidy_annotations(out.read_text(), infile, label))


def tidy_annotations(text: str, infile: Path, label: str) -> str:
    """uv's `# via` comments name our temporary files: name the source instead, drop the constraint files (a
    refresh with or without --constraints then writes the same file) and the repeats this leaves."""
    lines: list[str] = []
    for line in text.replace(f"-r {infile}", label).replace(str(infile), label).splitlines():
        if re.match(r"\s*#\s+(via )?-c ", line) or (lines and line.lstrip().startswith("#") and line == lines[-1]):
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upgrade", action="store_true", help="move every pin to the newest version allowed")
    ap.add_argument("--upgrade-package", action="append", default=[], metavar="NAME",
                    help="move this package (and what it needs) to the newest version allowed; repeatable")
    ap.add_argument("--torch-version", default=TORCH_VERSION, help="torch release both variants pin")
    ap.add_argument("--torch-cpu-wheels", default=TORCH_CPU_WHEELS,
                    help="a folder or page holding the torch X+cpu wheel (default: PyTorch's torch page)")
    ap.add_argument("--constraints", type=Path,
                    help="extra constraints for the CPU lock, e.g. a `pip freeze` of a tested environment")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    uv = find_uv()
    moves = (["--upgrade"] if args.upgrade else []) + [f for p in args.upgrade_package for f in ("-P", p)]
    requirements = project_requirements(ROOT / "pyproject.toml") + TOOLS
    LOCK_DIR.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cpu_extra = ["--find-links", args.torch_cpu_wheels, *moves]
        if args.constraints:
            cpu_extra += ["-c", str(args.constraints.resolve())]
        compile_lock(uv, requirements + [f"torch=={args.torch_version}+cpu"], LOCK_DIR / "cpu.txt", cpu_extra, work)

        constraints = work / "cpu-pins.txt"
        constraints.write_text(pins_without_torch(LOCK_DIR / "cpu.txt"))
        compile_lock(uv, requirements + [f"torch=={args.torch_version}"], LOCK_DIR / "cuda.txt",
                     ["-c", str(constraints), *moves], work)

        compile_lock(uv, [PIPECAT], LOCK_DIR / "pipecat.txt", ["--no-deps"], work, label="scripts/refresh_lock.py")


if __name__ == "__main__":
    main()
