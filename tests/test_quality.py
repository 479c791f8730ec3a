"""The code stays lint-clean, formatted and strictly typed (pyproject's settings)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> list[str]:
    local = Path(sys.executable).with_name(name)
    if local.exists():
        return [str(local)]
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return [found]


@pytest.mark.parametrize(
    "args",
    [["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"]],
    ids=["ruff-check", "ruff-format", "mypy-strict"],
)
def test_tool_is_clean(args: list[str]) -> None:
    proc = subprocess.run(
        [*_tool(args[0]), *args[1:]], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


PACKAGES = ("ledger", "cli", "mcp_server", "sim", "board")


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every module a file imports, anywhere in it (lazy and type-only imports too)."""
    package = path.parent.name
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                base = f"{package}.{node.module}" if node.module else package
                names = [base] if node.module else [f"{package}.{a.name}" for a in node.names]
            else:
                names = [node.module or ""]
                names += [f"{node.module}.{a.name}" for a in node.names]
            found += [(n, node.lineno) for n in names]
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
    return found


def _modules() -> dict[str, Path]:
    return {
        f"{pkg}.{p.stem}" if p.stem != "__init__" else pkg: p
        for pkg in PACKAGES
        for p in sorted((ROOT / pkg).glob("*.py"))
    }


def test_no_import_cycles() -> None:
    modules = _modules()
    graph = {m: {n for n, _ in _imports(p) if n in modules and n != m} for m, p in modules.items()}
    graph = {m: {d for d in deps if not (m.endswith("__init__") or d == m.split(".")[0])}
             for m, deps in graph.items()}  # fmt: skip
    # a package's __init__ re-exports its modules; modules never import their package
    cycles = []

    def visit(node: str, path: list[str], done: set[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in path:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in done:
                visit(nxt, [*path, nxt], done)
        done.add(node)

    done: set[str] = set()
    for module in sorted(graph):
        if module not in done:
            visit(module, [module], done)
    assert not cycles, cycles[:5]


def test_front_ends_use_only_the_librarys_public_api() -> None:
    """cli/, the MCP server and the simulator import ``ledger`` (its ``__init__``), never
    a private ``ledger._x``; and no package imports another one's private modules."""
    bad = []
    for module, path in _modules().items():
        own = module.split(".")[0]
        for name, line in _imports(path):
            parts = name.split(".")
            if (
                parts[0] in PACKAGES
                and parts[0] != own
                and any(p.startswith("_") and not p.startswith("__") for p in parts[1:])
            ):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not bad, bad


def test_modules_and_functions_stay_small() -> None:
    big = []
    for path in _modules().values():
        text = path.read_text()
        if len(text.splitlines()) > 400:
            big.append(f"{path.relative_to(ROOT)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 60:
                    big.append(
                        f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {length} lines"
                    )
    assert not big, big
