"""The wheel ships the product only: no module of testing/ (the fakes and rigs for tests and benchmarks), tests/,
bench/ or scripts/, and no known test double under another package. Checked twice: on setuptools' package
discovery with the options pyproject.toml configures (cheap), and on a wheel actually built from a copy of the
tree (a few seconds; catches what discovery alone would miss, such as py-modules and package data)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LEFT_OUT = ("testing", "tests", "bench", "scripts")  # top-level folders that must never ship
PRODUCT = ("app", "app.commands", "app.window", "core", "core.engine", "models", "ui")  # must ship
OLD_DOUBLES = ("sine_decoder.py", "engine_fakes.py", "fake_hub_server.py", "audio_fixtures.py")
WHEEL_BUILD_TIMEOUT_S = 120


def double_names() -> set[str]:
    """File names of every test double: testing/'s modules, plus older names and tests/' fakes."""
    return {p.name for p in (ROOT / "testing").glob("*.py") if p.name != "__init__.py"} | set(OLD_DOUBLES)


def shipped_files_by_discovery(root: Path = ROOT) -> tuple[set[str], list[str]]:
    """(packages, .py files relative to root) that setuptools would put in the wheel per pyproject.toml."""
    from setuptools import find_namespace_packages, find_packages

    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    find = config["packages"]["find"]
    finder = find_namespace_packages if find.get("namespaces", True) else find_packages
    packages = set(finder(where=str(root), include=find.get("include", ("*",)), exclude=find.get("exclude", ())))
    files = [f"{m}.py" for m in config.get("py-modules", [])]
    for pkg in packages:
        folder = root.joinpath(*pkg.split("."))
        files += [p.relative_to(root).as_posix() for p in folder.glob("*.py")]
    return packages, sorted(files)


def offending(files: list[str]) -> list[str]:
    doubles = double_names()
    return [f for f in files if f.split("/")[0] in LEFT_OUT or f.rsplit("/", 1)[-1] in doubles]


def test_package_discovery_leaves_out_test_support():
    packages, files = shipped_files_by_discovery()
    assert set(PRODUCT) <= packages, f"product packages missing from the wheel: {set(PRODUCT) - packages}"
    assert not any(p.split(".")[0] in LEFT_OUT for p in packages), sorted(packages)
    assert offending(files) == []


def test_the_check_catches_a_double_in_the_product():
    assert offending(["app/fake_audio.py", "testing/espeak.py", "core/data/tts_espeak.py", "main.py"]) == [
        "app/fake_audio.py", "testing/espeak.py"]


def _copy_tree(dst: Path) -> None:
    """What the build reads (the left-out folders too, so that excluding them is what keeps them out), without
    build/ or egg-info leftovers that setuptools would reuse."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info", ".pytest_cache")
    for name in ("pyproject.toml", "README.md", "main.py"):
        shutil.copy2(ROOT / name, dst / name)
    for name in ("app", "core", "models", "ui", *LEFT_OUT):
        shutil.copytree(ROOT / name, dst / name, ignore=skip)


@pytest.mark.slow
def test_built_wheel_has_no_test_support(tmp_path):
    src, out = tmp_path / "src", tmp_path / "wheel"
    src.mkdir()
    _copy_tree(src)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
           "-w", str(out), str(src)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=WHEEL_BUILD_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = out.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    files = [n for n in names if ".dist-info/" not in n]
    assert "app/window/session.py" in files and "app/cli.py" in files and "main.py" in files
    assert offending(files) == []
