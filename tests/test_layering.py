"""The package's layers, read from the source: who may import dagster, what config/ may import,
and no import cycle between the package's parts (late and type-checking imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "detectkit_dagster"
DAGSTER_ALLOWED = ("defs", "definitions", "cli")
CONFIG_MAY_IMPORT = {"config", "timegrid", "errors"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Absolute names of every module `path` imports, wherever the import statement is."""
    name = module_name(path)
    return imports_in(path.read_text(), name if path.name == "__init__.py" else name.rsplit(".", 1)[0])


def imports_in(source: str, package: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # `from . import x` imports x
    return found


def part_of(module: str) -> str | None:
    """`detectkit_dagster.config.metric` -> `config`; outside the package -> None."""
    parts = module.split(".")
    if parts[0] != "detectkit_dagster" or len(parts) < 2:
        return None
    candidate = PACKAGE / parts[1]
    return parts[1] if candidate.is_dir() or candidate.with_suffix(".py").is_file() else None


SOURCES = sorted(PACKAGE.rglob("*.py"))
GRAPH: dict[str, set[str]] = {}
for _path in SOURCES:
    _part = part_of(module_name(_path))
    if _part is not None:
        GRAPH.setdefault(_part, set()).update(p for p in map(part_of, imports(_path)) if p and p != _part)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_dagster_is_imported_only_by_the_shell(path):
    if part_of(module_name(path)) in DAGSTER_ALLOWED:
        return
    uses = sorted(m for m in imports(path) if m == "dagster" or m.startswith(("dagster.", "dagster_")))
    assert not uses, f"{path.relative_to(PACKAGE)} imports {uses}; only {DAGSTER_ALLOWED} may"


def test_config_is_the_bottom_layer():
    assert GRAPH["config"] <= CONFIG_MAY_IMPORT, GRAPH["config"]


def test_no_import_cycle_between_parts_of_the_package():
    """Tarjan's strongly connected components over the part graph: every component is one part."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in GRAPH.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    assert not cycles, f"import cycles between {cycles}: {({n: sorted(GRAPH[n]) for c in cycles for n in c})}"


def test_the_graph_sees_late_and_relative_imports():
    """The walk must find imports inside functions, or a hidden cycle would pass unseen."""
    source = "import typing\nif typing.TYPE_CHECKING:\n    from .. import sources\ndef f():\n    from ..channels import x\n"
    found = imports_in(source, "detectkit_dagster.config")
    assert {"detectkit_dagster.channels", "detectkit_dagster.sources"} <= found
    assert {part_of(m) for m in found} >= {"channels", "sources"}
