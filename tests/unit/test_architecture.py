"""The module map of docs/ARCHITECTURE.md holds: every module of sweepq is in a layer,
no import circle, no import from a lower layer to a higher one; only the store
(and the governor, for its own tables) writes SQL; and no module or class is long."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "sweepq"
MAX_MODULE_LINES, MAX_CLASS_LINES = 450, 250   # docs/ARCHITECTURE.md, after the table
WRITES = re.compile(r"\b(INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b")


def _layers() -> list[list[str]]:
    """The layers of the map, top first, each a list of names (`x/`: a package)."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    block = text.split("## Module map", 1)[1].split("```", 2)[1]
    layers: list[list[str]] = []
    for line in block.strip().splitlines():
        label, _, names = line.partition(":")
        if line.startswith(" "):
            layers[-1] += [n for n in line.split("·") if n.strip()]
        else:
            assert names, f"a layer line needs a label: {line!r}"
            layers.append([n for n in names.split("·") if n.strip()])
    return [[n.strip() for n in layer] for layer in layers]


def _modules() -> dict[str, Path]:
    """Every module of the package by its name under sweepq (`store.jobs`, `__init__`)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _layer_of(module: str, layers: list[list[str]]) -> int | None:
    for depth, names in enumerate(layers):
        for name in names:
            if module == name or (name.endswith("/") and
                                  (module + ".").startswith(name[:-1] + ".")):
                return depth
    return None


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The sweepq modules `name` imports anywhere in it, except under TYPE_CHECKING."""
    tree = ast.parse(path.read_text())
    typing_only = {id(node) for branch in ast.walk(tree) if isinstance(branch, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(branch.test) for node in ast.walk(branch)}
    package = name.split(".") if path.name == "__init__.py" and name != "__init__" else \
        ([] if name == "__init__" else name.split(".")[:-1])
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - (node.level - 1)] + \
                ([node.module] if node.module else [])
            for alias in node.names:
                target = ".".join([*base, alias.name])
                found.add(target if target in modules else ".".join(base) or "__init__")
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names = [node.module] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names]
            for full in names:
                if full and full.startswith("sweepq."):
                    found.add(full.removeprefix("sweepq."))
    return {m for m in found if m in modules and m != name}


@functools.cache  # parsed once for the tests below (each took ~0.7 s of CPU)
def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return circles


def test_every_module_is_in_a_layer_of_the_map() -> None:
    layers = _layers()
    assert [m for m in sorted(_modules()) if _layer_of(m, layers) is None] == []


def test_the_imports_have_no_circle() -> None:
    assert _circles(_graph()) == []


def test_no_import_points_up_the_layers() -> None:
    layers = _layers()
    up = [f"{m} -> {t}" for m, targets in sorted(_graph().items()) for t in sorted(targets)
          if (_layer_of(t, layers) or 0) < (_layer_of(m, layers) or 0)]
    assert up == []


def test_the_checks_see_a_circle_and_an_import_up() -> None:
    """The checks themselves: a made-up graph with a circle, and a leaf importing cli."""
    assert _circles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    layers = _layers()
    assert _layer_of("cli", layers) < _layer_of("errors", layers)
    assert _layer_of("store.jobs", layers) == _layer_of("queue", layers)


def test_only_the_store_and_the_governor_write_sql() -> None:
    """docs/ARCHITECTURE.md: every write is in sweepq/store/, but the governor's own
    tables, which governor.py writes inside Queue.write transactions."""
    writers = sorted(name for name, path in _modules().items()
                     if not name.startswith("fake") and WRITES.search(path.read_text()))
    assert [w for w in writers if not w.startswith("store.")] == ["governor"]


def test_no_module_is_over_450_lines_and_no_class_over_250() -> None:
    """docs/ARCHITECTURE.md: one concept per module shows in its length."""
    long = []
    for name, path in sorted(_modules().items()):
        text = path.read_text()
        if (lines := text.count("\n")) > MAX_MODULE_LINES:
            long.append(f"{name}: {lines} lines")
        long += [f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
                 for node in ast.walk(ast.parse(text)) if isinstance(node, ast.ClassDef)
                 and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES]
    assert long == []
