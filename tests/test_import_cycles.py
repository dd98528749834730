"""No import cycles: the modules of a package form a layered graph, whatever the imports hide in.

Every import statement counts, wherever it is (module level, inside a function, under `if TYPE_CHECKING:`): a
function-level or type-only import that closes a cycle still ties the two modules into one. `from a.b import c`
is an edge to the module `a.b.c` when that is a module, else to `a.b`. The implicit import of a parent package
(importing `a.b.c` runs `a/__init__.py` and `a/b/__init__.py`) is not an edge, as in import-linter and pydeps.
The graph is the whole repository's; a package is checked when one of its modules is in a cycle.
"""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ("detector", "evaluation")
TOP_LEVEL = ("benchmarks", "detector", "evaluation", "ingest", "learning", "notifier", "schemas", "sepsis_alert")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {_module_name(p): p for top in TOP_LEVEL for p in (ROOT / top).rglob("*.py")}


def _target(name: str, known: set[str] | dict[str, Path]) -> str | None:
    """The repository module `name` resolves to (its nearest known prefix), None when not ours."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str) -> set[str]:
    """The repository modules `module` imports anywhere in its text."""
    path = modules()[module]
    return imports_in(path.read_text(), module, path.name == "__init__.py", set(modules()))


def imports_in(source: str, module: str, is_package: bool, known: set[str] | dict[str, Path]) -> set[str]:
    """The modules of `known` that the source of `module` imports, in any statement anywhere."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for name in names:
            target = _target(name, known)
            if target is not None and target != module:
                found.add(target)
    return found


def cycles() -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    graph = {m: imports_of(m) for m in modules()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:  # iterative: the graph is deep enough to trouble recursion limits
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_the_cycle_finder_sees_function_level_type_only_and_relative_imports() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import pkg.a\n"
        "from pkg import b\n"
        "from .c import thing\n"
        "if TYPE_CHECKING:\n    from pkg.d import D\n"
        "def later():\n    from pkg.e import helper\n    import os\n"
    )
    known = {"pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.d", "pkg.e", "pkg.mod"}
    assert imports_in(source, "pkg.mod", False, known) == {"pkg.a", "pkg.b", "pkg.c", "pkg.d", "pkg.e"}


def test_a_cycle_through_a_function_level_import_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    graph = {"pkg.a": "def f():\n    from pkg import b\n", "pkg.b": "from pkg.a import f\n", "pkg.c": "import pkg.a\n"}
    monkeypatch.setattr(sys.modules[__name__], "modules", lambda: dict.fromkeys(graph, Path("x.py")))
    monkeypatch.setattr(sys.modules[__name__], "imports_of",
                        lambda module: imports_in(graph[module], module, False, set(graph)))
    assert cycles() == [["pkg.a", "pkg.b"]]


@cache
def _repository_cycles() -> list[list[str]]:
    return cycles()


@pytest.mark.parametrize("package", CHECKED)
def test_no_import_cycles(package: str) -> None:
    involved = [c for c in _repository_cycles() if any(m == package or m.startswith(f"{package}.") for m in c)]
    assert not involved, "import cycles: " + "; ".join(" <-> ".join(c) for c in involved)
