"""No import cycles anywhere in the project (every package, including detector, notifier and evaluation).

Every import counts, wherever it sits: module level, inside a function (a lazy import that hides a cycle is
still a cycle), under `if TYPE_CHECKING:`, and a dotted module name written as a string where it is imported by
name: the argument of `import_module(...)`, or a module-level table such as the CLI's command modules (a module
name inside a function is usually a subprocess's `python -m`, and a logger's name imports nothing).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("ingest", "sepsis_alert", "schemas", "devstack", "detector", "notifier", "evaluation",
                    "learning", "benchmarks")


def module_files(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """{dotted module name: file} of every module of `packages` under `root`."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported_modules(name: str, path: Path, known: Mapping[str, Path]) -> set[str]:
    """The project modules that module `name` imports anywhere in its body, or names as a module string."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()

    def add(candidate: str) -> None:
        # `from a.b import c` imports module a.b.c when there is one, else a name from a.b.
        while candidate and candidate not in known:
            candidate = candidate.rpartition(".")[0]
        if candidate and candidate != name:
            targets.add(candidate)

    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    named: list[ast.AST] = [n.value for n in tree.body if isinstance(n, ast.Assign | ast.AnnAssign) and n.value
                            and not _is_logger(n.value)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and (
                getattr(node.func, "attr", None) == "import_module" or getattr(node.func, "id", None)
                in ("import_module", "__import__")):
            named.append(node.args[0])
    for table in named:
        for node in ast.walk(table):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in known:
                add(node.value)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                add(f"{base}.{alias.name}")
    return targets


def _is_logger(value: ast.AST) -> bool:
    """`logging.getLogger("a.b")`: a logger named after a module is not an import of it."""
    return isinstance(value, ast.Call) and getattr(value.func, "attr", getattr(value.func, "id", None)) == "getLogger"


def import_graph(root: Path, packages: Iterable[str]) -> dict[str, set[str]]:
    known = module_files(root, packages)
    return {name: imported_modules(name, path, known) for name, path in known.items()}


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _write(root: Path, files: Mapping[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_no_import_cycle_in_any_package() -> None:
    found = cycles(import_graph(ROOT, PROJECT_PACKAGES))
    assert found == [], "import cycles (each a group of modules that import each other):\n" + "\n".join(
        " <-> ".join(c) for c in found)


def test_graph_sees_the_imports_the_codebase_relies_on() -> None:
    """Guards the check itself: if the parser stopped seeing imports, the cycle test would pass vacuously."""
    graph = import_graph(ROOT, PROJECT_PACKAGES)
    assert "sepsis_alert.kafka.config" in graph["ingest.fhir_worker"]  # module level
    assert "ingest.adapters.fhir_http" in graph["ingest.fhir_worker"]  # inside a function
    assert "ingest.cli" in graph["sepsis_alert.cli"]  # a module named in a string (importlib)


def test_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.b import helper\n",
        "pkg/b.py": "def helper() -> None:\n    from pkg import a\n",
        "pkg/c.py": "from . import a\n",
    })
    assert cycles(import_graph(tmp_path, ["pkg"])) == [["pkg.a", "pkg.b"]]


def test_cycle_through_importlib_and_a_relative_import_is_found(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/cli.py": "import importlib\nMODULES = ('pkg.sub.run',)\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/run.py": "def go() -> None:\n    from ..cli import MODULES\n",
        "pkg/spawn.py": "import subprocess\ndef go() -> None:\n    subprocess.run(['python', '-m', 'pkg.cli'])\n",
        "pkg/lazy.py": "import importlib\ndef go() -> None:\n    importlib.import_module('pkg.spawn')\n",
    })
    assert cycles(import_graph(tmp_path, ["pkg"])) == [["pkg.cli", "pkg.sub.run"]]


def test_module_started_as_a_subprocess_is_not_an_import(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/cli.py": "from pkg import runner\n",
        "pkg/runner.py": "import subprocess\ndef go() -> None:\n    subprocess.run(['python', '-m', 'pkg.cli'])\n",
    })
    assert cycles(import_graph(tmp_path, ["pkg"])) == []


def test_type_only_imports_count_and_a_logger_name_does_not(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n",
        "pkg/b.py": "from pkg.a import thing\n",
        "pkg/c.py": "import logging\nlog = logging.getLogger('pkg.d')\n",
        "pkg/d.py": "from pkg.c import log\n",
    })
    assert cycles(import_graph(tmp_path, ["pkg"])) == [["pkg.a", "pkg.b"]]
