"""The package's import graph has no cycles, visible or hidden.

A function-local import that closes a cycle (``weights`` importing ``backbones`` which import ``weights``) works
until someone moves it to the top of the file; it also hides the real dependency from readers. This test parses
every module of ``bench`` (``bench.adapters`` included) and fails on any cycle, counting an import inside a function as
an edge too (imports under ``if TYPE_CHECKING:`` are annotations only and are not counted).
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for p in (ROOT / "bench").rglob("*.py"):
        parts = list(p.relative_to(ROOT / "bench").with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(["bench", *parts])] = p
    return mods


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.Module, mods: dict[str, Path], here: str) -> set[str]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            skip.update(id(n) for b in node.body for n in ast.walk(b))
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip or not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative imports are not used in genbench; resolve them anyway
                base = here.rsplit(".", node.level)[0]
                names = [f"{base}.{node.module}" if node.module else base]
            else:
                names = [node.module or ""]
            names += [f"{names[0]}.{a.name}" for a in node.names]  # `from bench.x import submodule`
        else:
            names = [a.name for a in node.names]
        for n in names:
            parts = n.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a.b/__init__ too
                m = ".".join(parts[:i])
                if m in mods and m != here and not here.startswith(m + "."):
                    out.add(m)
    return out


def test_no_import_cycles() -> None:
    mods = _modules()
    graph = {m: _imports(ast.parse(p.read_text(encoding="utf-8")), mods, m) for m, p in mods.items()}
    # a package's __init__ that re-exports its own submodules is the usual layering, not a cycle
    for m in graph:
        graph[m] = {t for t in graph[m] if not (t.startswith(m + "."))}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles[:20])
