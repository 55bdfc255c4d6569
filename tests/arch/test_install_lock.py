"""The hash locks in requirements/ agree with pyproject.toml: every dependency (the dev extra and the build
requirements included) is pinned, with hashes, at a version its specifier admits; nothing is pinned that no
dependency needs any more; the CPU and CUDA locks differ only in torch and what torch alone brings. A failing
test here means: run `python scripts/refresh_lock.py` (README: Installs) and commit requirements/."""

from __future__ import annotations

import re
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version


def _repo_root() -> Path:
    for folder in Path(__file__).resolve().parents:
        if (folder / "pyproject.toml").is_file() and (folder / "requirements").is_dir():
            return folder
    raise FileNotFoundError("no folder above this test holds pyproject.toml and requirements/")


ROOT = _repo_root()
LOCKS = ("cpu.txt", "cuda.txt")
TOOLS = ("pip",)  # pinned beside the project's requirements: the installer itself
# The locks target CPython 3.11 on Linux x86_64: markers are evaluated there.
TARGET = default_environment() | {
    "python_version": "3.11", "python_full_version": "3.11.0", "sys_platform": "linux", "os_name": "posix",
    "platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython",
    "platform_python_implementation": "CPython", "extra": "",
}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


@dataclass
class Pin:
    version: Version
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)  # uv's annotations: who requires it ("pyproject.toml" or a pin)


def read_lock(path: Path) -> dict[str, Pin]:
    """Pins of a uv/pip-compile lock by canonical name, with their sha256 hashes and `# via` annotations."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    in_via = False
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if match := PIN.match(line):
            current = pins[canonicalize_name(match[1])] = Pin(Version(match[2]))
            in_via = False
        elif current is None:
            continue  # the header
        elif hashes := re.findall(r"--hash=sha256:([0-9a-f]{64})", stripped):
            current.hashes += hashes
        elif stripped.startswith("# via"):
            rest = stripped.removeprefix("# via").strip()
            current.via += [rest] if rest else []
            in_via = not rest
        elif in_via and stripped.startswith("#"):
            current.via.append(stripped.lstrip("#").strip())
    return pins


def project_requirements(pyproject: Path) -> list[Requirement]:
    """Runtime dependencies, the dev extra and [build-system] requires that apply on the target platform."""
    data = tomllib.loads(pyproject.read_text())
    lines = (
        data["project"]["dependencies"]
        + data["project"].get("optional-dependencies", {}).get("dev", [])
        + data["build-system"]["requires"]
    )
    reqs = [Requirement(line) for line in lines]
    return [r for r in reqs if r.marker is None or r.marker.evaluate(TARGET)]


def lock_problems(pyproject: Path, lock: Path) -> list[str]:
    """What makes `lock` disagree with `pyproject`, one line each; empty when they agree."""
    pins = read_lock(lock)
    problems = [f"{name}=={pin.version} has no --hash" for name, pin in pins.items() if not pin.hashes]
    roots = set(TOOLS)
    for req in project_requirements(pyproject):
        name = canonicalize_name(req.name)
        roots.add(name)
        if name not in pins:
            problems.append(f"{req} is not pinned in {lock.name}")
        elif not req.specifier.contains(pins[name].version, prereleases=True):
            problems.append(f"{lock.name} pins {name}=={pins[name].version}, outside {req}")
    # A pin is needed when the project names it or a needed pin requires it (the lock records who requires whom).
    needed, grew = set(roots) & set(pins), True
    while grew:
        more = {n for n, pin in pins.items() if n not in needed and needed & set(map(canonicalize_name, pin.via))}
        needed |= more
        grew = bool(more)
    for name in sorted(set(pins) - needed):
        problems.append(f"{lock.name} pins {name}, which nothing in pyproject.toml needs")
    return problems


def test_locks_agree_with_pyproject():
    for lock in LOCKS:
        assert lock_problems(ROOT / "pyproject.toml", ROOT / "requirements" / lock) == []


def test_torch_variants_share_every_other_pin():
    cpu, cuda = (read_lock(ROOT / "requirements" / lock) for lock in LOCKS)
    assert cpu["torch"].version.local == "cpu"
    assert cuda["torch"].version.local is None
    assert cpu["torch"].version.public == cuda["torch"].version.public
    assert {name: pin.version for name, pin in cpu.items() if name != "torch"}.items() <= {
        name: pin.version for name, pin in cuda.items()
    }.items()
    # what only the CUDA lock has comes with torch: CUDA libraries and the Triton compiler
    assert all(re.match(r"(nvidia|cuda)-|triton$", name) for name in set(cuda) - set(cpu)), set(cuda) - set(cpu)


def test_pipecat_is_locked_alone_and_installed_without_dependencies():
    pins = read_lock(ROOT / "requirements" / "pipecat.txt")
    assert list(pins) == ["pipecat-ai"] and pins["pipecat-ai"].hashes
    # its dependencies include plain onnxruntime, which must never sit beside onnxruntime-gpu
    for lock in LOCKS:
        assert "onnxruntime" not in read_lock(ROOT / "requirements" / lock)
    install = (ROOT / ".ci" / "install").read_text()
    assert "--require-hashes --no-deps -r requirements/pipecat.txt" in install
    assert '--require-hashes -r "$LOCK"' in install


def test_checker_fails_on_a_broken_copy(tmp_path):
    """The check above can fail: a copy of pyproject.toml with a raised bound, a new dependency and a dropped
    one, against the real CPU lock."""
    lock = tmp_path / "cpu.txt"
    shutil.copy(ROOT / "requirements" / "cpu.txt", lock)
    pyproject = tmp_path / "pyproject.toml"
    text = (ROOT / "pyproject.toml").read_text()
    pins = read_lock(lock)
    too_new = Version(f"{pins['qasync'].version.major}.{pins['qasync'].version.minor + 1}")
    broken = re.sub(r'"qasync[^"]*"', f'"qasync>={too_new}"', text)
    broken = re.sub(r'"pyyaml[^"]*",', '"pyyaml>=6", "zzz-not-locked>=1",', broken)
    broken = re.sub(r'\s*"tqdm[^"]*",[^\n]*', "", broken)
    broken = re.sub(r'"pytest-timeout[^"]*", ', "", broken)  # from the dev extra
    assert broken.count("zzz-not-locked") == 1 and "tqdm" not in broken and "pytest-timeout" not in broken
    pyproject.write_text(broken)
    problems = lock_problems(pyproject, lock)
    assert f"cpu.txt pins qasync=={pins['qasync'].version}, outside qasync>={too_new}" in problems
    assert "zzz-not-locked>=1 is not pinned in cpu.txt" in problems
    assert "cpu.txt pins pytest-timeout, which nothing in pyproject.toml needs" in problems
    # tqdm stays needed: transformers and others require it
    assert not any("tqdm" in p for p in problems)
    # a pin without its hash
    lock.write_text(re.sub(r"(qasync==\S+) \\\n(\s+--hash=\S+\s*\\?\n)+", r"\1\n", lock.read_text()))
    assert any(p.startswith("qasync==") and "no --hash" in p for p in lock_problems(pyproject, lock))
