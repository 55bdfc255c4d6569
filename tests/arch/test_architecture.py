"""The layout's rules, checked on the source (an AST walk, nothing imported): dependencies point one way
(ui -> app -> core -> models; bench/ and scripts/ never import tests/; the product (app, core, models, ui, main)
never imports testing/, the test doubles kept out of the wheel, and testing/ imports no tests/, bench/ or scripts/
module), inside core/ too (the stages in the order of a turn: CORE_LAYERS), no import cycle among the project's
modules, and every project import names a module that exists in this tree (an editable install elsewhere can
otherwise hide a stale path)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "bench", "core", "models", "scripts", "testing", "tests", "ui")
# room -> rooms it must never import (at module level or inside a function)
FORBIDDEN = {
    "models": ("core", "app", "ui", "bench", "scripts", "testing", "tests"),
    "core": ("app", "ui", "bench", "scripts", "testing", "tests"),
    "app": ("ui", "bench", "scripts", "testing", "tests"),
    "ui": ("bench", "scripts", "testing", "tests"),
    "main": ("bench", "scripts", "testing", "tests"),
    "testing": ("bench", "scripts", "tests"),
    "bench": ("tests",),
    "scripts": ("tests",),
}
# core/'s rooms, lowest first: a room imports only rooms of lower layers (one layer's rooms are independent).
# compute: device and dtype choice; audio: devices, resampling, jitter buffer, levels, clips; turns: VAD and end of
# turn; speech_tokenizer: audio -> units (training data); lm: the model runner; voice: the vocoder; seams: what the
# engine reads from lm and voice (core/seams.py); training: fine-tuning the LM; engine: turns in, replies out;
# listeners: transcript and emotion, fed by the engine's events; data: the data pipeline (listeners label it).
CORE_LAYERS = (
    ("compute", "options", "files"),
    ("audio",),
    ("turns", "speech_tokenizer"),
    ("lm", "voice"),
    ("seams", "training"),
    ("engine",),
    ("listeners",),
    ("data",),
)


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_files(root: Path = ROOT) -> dict[str, Path]:
    files = {module_name(p, root): p for pkg in PACKAGES for p in (root / pkg).rglob("*.py")}
    files["main"] = root / "main.py"
    return files


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The longest project module that `name` (a dotted import) refers to, or None if it is not ours."""
    parts = name.split(".")
    if parts[0] not in (*PACKAGES, "main"):
        return None
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in modules:
            return candidate
    return name  # ours but missing: reported by the existence test


def imports_of(path: Path, modules: dict[str, Path], root: Path = ROOT) -> list[tuple[str, bool, int]]:
    """(imported project module, at module level?, line) for every import in `path`. Imports under
    `if TYPE_CHECKING:` count as module level: they are part of the module's dependencies too."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: list[tuple[str, bool, int]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = top and not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append((alias.name, top, child.lineno))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in child.names:  # `from pkg import mod` imports pkg.mod when that is a module
                    full = f"{base}.{alias.name}"
                    found.append((full if full in modules else base, top, child.lineno))
            visit(child, inner)

    visit(tree, True)
    out = []
    for name, top, line in found:
        resolved = _resolve(name, modules)
        if resolved is not None and resolved != me:
            out.append((resolved, top, line))
    return out


def import_graph(root: Path = ROOT) -> tuple[dict[str, Path], dict[str, list[tuple[str, bool, int]]]]:
    modules = project_files(root)
    return modules, {name: imports_of(path, modules, root) for name, path in modules.items()}


def layering_violations(graph: dict[str, list[tuple[str, bool, int]]]) -> list[str]:
    bad = []
    for name, imports in graph.items():
        room = name.split(".")[0]
        for target, _, line in imports:
            if target.split(".")[0] in FORBIDDEN.get(room, ()):
                bad.append(f"{name}:{line} imports {target}")
    return bad


def core_room(module: str) -> str | None:
    """`core.turns.vad` -> `turns`; `core.seams` -> `seams`; None outside core (or for `core` itself)."""
    parts = module.split(".")
    return parts[1] if parts[0] == "core" and len(parts) > 1 else None


def core_order_violations(graph: dict[str, list[tuple[str, bool, int]]]) -> list[str]:
    """Imports inside core/ that go sideways or up CORE_LAYERS, and rooms CORE_LAYERS does not place."""
    layer = {room: i for i, rooms in enumerate(CORE_LAYERS) for room in rooms}
    bad = []
    for name, imports in graph.items():
        room = core_room(name)
        if room is None:
            continue
        if room not in layer:
            bad.append(f"{name}: core room {room!r} has no place in CORE_LAYERS")
            continue
        for target, _, line in imports:
            other = core_room(target)
            if other is not None and other != room and layer.get(other, len(CORE_LAYERS)) >= layer[room]:
                bad.append(f"{name}:{line} imports {target} ({room} may not depend on {other})")
    return bad


def cycles(graph: dict[str, list[tuple[str, bool, int]]]) -> list[list[str]]:
    """Strongly connected components (more than one module, or a self-loop) of the module-level import graph."""
    edges = {n: sorted({t for t, top, _ in imps if top and t in graph}) for n, imps in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def strongconnect(v: str) -> None:  # Tarjan, iterative over edges via recursion depth <= module count
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in edges[v]:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            strongconnect(v)
    return found


@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_dependencies_point_one_way(graph):
    _, imports = graph
    assert layering_violations(imports) == []


def test_core_stages_depend_in_the_order_of_a_turn(graph):
    _, imports = graph
    assert core_order_violations(imports) == []


def test_commands_never_import_the_window(graph):
    """The commands (and what they use: the assembly, config, hub, settings) run without Qt: only app.window and
    ui import PySide6 or the window's services."""
    bad = [f"{name}:{line} imports {target}" for name, imports in graph[1].items()
           if name.startswith("app.") and not name.startswith("app.window")
           for target, _, line in imports if target.startswith("app.window")]
    assert bad == []
    qt = [p for p in (ROOT / "app").rglob("*.py") if "window" not in p.parts and "PySide6" in p.read_text()]
    assert qt == []


def test_no_import_cycles(graph):
    _, imports = graph
    assert cycles(imports) == []


def test_every_project_import_exists_in_this_tree(graph):
    modules, imports = graph
    missing = [f"{n}:{line} imports {t}" for n, imps in imports.items() for t, _, line in imps if t not in modules]
    assert missing == []


def test_the_checks_catch_what_they_are_for(tmp_path):
    """The rules fail on a tree that breaks them: models -> core, bench -> tests, a two-module cycle, a cycle
    through a TYPE_CHECKING import, a function-level import (layering) that is not a cycle, product code importing
    testing/ and testing/ importing tests/, and inside core/ a stage importing the engine (turns -> engine), a
    lower stage importing a higher one, lm -> voice, and a room without a layer."""
    files = {
        "models/net.py": "from core.voice import vocoder\n",
        "core/voice/vocoder.py": "from core.voice.stream import S\n",
        "core/turns/capture.py": "from core.engine.config import EngineConfig\n",  # a stage importing the engine
        "core/engine/config.py": "",
        "core/audio/levels.py": "def f():\n    from core.turns import capture\n",  # function level counts
        "core/lm/runner.py": "from core.voice.vocoder import V\n",  # lm and voice are independent
        "core/extra/x.py": "",  # a room without a place
        "core/voice/stream.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from core.voice.vocoder import V\n"
        ),
        "core/engine/late.py": "def f():\n    import app.cli\n",
        "app/cli.py": "import core.engine.late\n",
        "bench/b.py": "from tests.engine_fakes import FakeAudio\n",
        "tests/engine_fakes.py": "",
        "ui/w.py": "from . import actions\n",
        "ui/actions.py": "from ui import w\n",
        "main.py": "",
        "core/audio/uses_fake.py": "def f():\n    from testing.fake_audio import FakeAudio\n",
        "ui/rig.py": "import testing.fake_audio\n",
        "testing/fake_audio.py": "from tests.engine_fakes import FakeRunner\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir(exist_ok=True)
    _, imports = import_graph(tmp_path)
    bad = layering_violations(imports)
    assert any(b.startswith("models.net:1 imports core.voice.vocoder") for b in bad)
    assert any(b.startswith("bench.b:1 imports tests.engine_fakes") for b in bad)
    assert any(b.startswith("core.engine.late:2 imports app.cli") for b in bad)  # function level counts
    assert any(b.startswith("core.audio.uses_fake:2 imports testing.fake_audio") for b in bad)
    assert any(b.startswith("ui.rig:1 imports testing.fake_audio") for b in bad)
    assert any(b.startswith("testing.fake_audio:1 imports tests.engine_fakes") for b in bad)
    order = core_order_violations(imports)
    assert any(b.startswith("core.turns.capture:1 imports core.engine.config") for b in order)
    assert any(b.startswith("core.audio.levels:2 imports core.turns.capture") for b in order)
    assert any(b.startswith("core.lm.runner:1 imports core.voice.vocoder") for b in order)
    assert any(b.startswith("core.extra.x: core room 'extra'") for b in order)
    assert not any(b.startswith("core.engine.late") for b in order)  # engine -> app is the layering rule's
    found = cycles(imports)
    assert ["core.voice.stream", "core.voice.vocoder"] in found
    assert ["ui.actions", "ui.w"] in found
    assert not any("core.engine.late" in c for c in found)  # a function-level import is no cycle


def test_a_turns_to_engine_import_injected_into_a_copy_of_this_tree_is_reported(tmp_path):
    """The real tree, copied, with one backwards import added to core/turns/vad.py (the engine's config)."""
    for path in project_files().values():
        dest = tmp_path / path.relative_to(ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    _, before = import_graph(tmp_path)
    assert core_order_violations(before) == []
    vad = tmp_path / "core" / "turns" / "vad.py"
    lines = vad.read_text(encoding="utf-8").count("\n")
    vad.write_text(vad.read_text(encoding="utf-8") + "from core.engine.config import EngineConfig  # noqa\n")
    _, after = import_graph(tmp_path)
    assert core_order_violations(after) == [
        f"core.turns.vad:{lines + 1} imports core.engine.config (turns may not depend on engine)"
    ]
