"""The architecture the README describes holds: no import cycles, every module importable
on its own, components that never import the engine, and no concrete model in the engine.

The import graph is read from the source (module-level ``import`` statements, the ones
that run when a module is imported), so a cycle is caught even where Python's import
order happens to hide it. A package whose ``__init__`` discovers its modules
(``import_submodules``) imports every one of them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("zoo", "losses", "optimizers", "augment", "engine")
COMPONENTS = ("zoo", "losses", "optimizers", "augment")


def module_files() -> dict[str, Path]:
    """Every module of the project's packages, by dotted name."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = module_files()


def _module_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements that run at import: the body, and the bodies of its if/try blocks
    (not functions or classes, whose imports run only when called)."""
    out = []
    for node in body:
        out.append(node)
        if isinstance(node, ast.If | ast.Try):
            for block in (node.body, node.orelse, getattr(node, "finalbody", [])):
                out.extend(_module_level(block))
            for handler in getattr(node, "handlers", []):
                out.extend(_module_level(handler.body))
    return out


def imports_of(name: str) -> set[str]:
    """The project modules ``name`` imports when it is imported."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in _module_level(tree.body):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import sub` imports the submodule; `from pkg import name`, pkg
            subs = {f"{base}.{a.name}" for a in node.names} & MODULES.keys()
            targets.update(subs)
            if len(subs) < len(node.names):
                targets.add(base)
        elif (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and getattr(node.value.func, "id", "") == "import_submodules"
        ):  # discovery: every module of this package
            targets.update(m for m in MODULES if m.rpartition(".")[0] == name)
    return {t for t in targets if t in MODULES and t != name}


GRAPH = {name: imports_of(name) for name in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path ``[a, b, ..., a]``, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_the_engine_packages_and_their_discovery():
    assert "engine.data.graphs" in GRAPH["engine.data"]  # found by import_submodules
    assert "engine.tasks.generative" in GRAPH["engine.tasks"]
    assert "engine.data.core" in GRAPH["engine.data.graphs"]


def test_no_import_cycle_anywhere():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("package", COMPONENTS)
def test_components_never_import_the_engine_or_hydra(package):
    for name, path in MODULES.items():
        if name.split(".")[0] != package:
            continue
        assert not {t for t in GRAPH[name] if t.startswith("engine")}, name
        text = path.read_text()
        assert "import hydra" not in text and "from hydra" not in text, name


def test_the_engine_never_imports_a_concrete_model():
    """The engine builds models by registry name; what a model can do is declared where it
    is registered (``zoo.capabilities``), not found by importing its class."""
    families = {
        n for n in MODULES if n.startswith("zoo.") and n.split(".")[1] not in SHARED_ZOO_MODULES
    }
    for name in MODULES:
        if name.startswith("engine"):
            source = MODULES[name].read_text()
            tree = ast.parse(source)
            imported = set()
            for node in ast.walk(tree):  # function-level imports count here too
                if isinstance(node, ast.ImportFrom) and node.module:
                    imported.add(node.module)
                elif isinstance(node, ast.Import):
                    imported.update(a.name for a in node.names)
            assert not imported & families, f"{name} imports {sorted(imported & families)}"


# zoo modules that are shared machinery, not a model family
SHARED_ZOO_MODULES = {
    "activations",
    "capabilities",
    "checks",
    "factory",
    "initializers",
    "modes",
    "pyg",
    "registry",
    "regularizers",
    "sequence",
    "spec",
}


def test_every_module_imports_on_its_own():
    """Each module imported in a fresh set of project modules (third-party packages
    stay loaded): none relies on another having been imported first."""
    script = (
        "import importlib, importlib.machinery, sys\n"
        # Each module's source compiled once for all rounds, as a __pycache__ would
        # keep it (under PYTHONDONTWRITEBYTECODE each round compiled every module it
        # imports again: 10.4 s for the test, 4.7 s now); every module still runs afresh.
        "compiled, compile_source = {}, importlib.machinery.SourceFileLoader.source_to_code\n"
        "def source_to_code(self, data, path, **kw):\n"
        "    if (path, data) not in compiled:\n"
        "        compiled[path, data] = compile_source(self, data, path, **kw)\n"
        "    return compiled[path, data]\n"
        "importlib.machinery.SourceFileLoader.source_to_code = source_to_code\n"
        f"names = {sorted(MODULES)!r}\n"
        f"roots = {PACKAGES!r}\n"
        "failed = []\n"
        "for name in names:\n"
        "    for m in [m for m in sys.modules if m.split('.')[0] in roots]:\n"
        "        del sys.modules[m]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as e:\n"
        "        failed.append(f'{name}: {type(e).__name__}: {e}')\n"
        "print('\\n'.join(failed))\n"
        "sys.exit(1 if failed else 0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout + done.stderr
