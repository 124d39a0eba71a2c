"""No import circle in the package: a static walk (ast) of every module's imports.

Edges counted (module A -> module B of the package):

* ``import espnet_plugin.x.y`` and ``from espnet_plugin.x import y`` (and relative forms), at module
  level AND inside functions / methods / ``if`` blocks: a function-level import is an edge too,
  since the circle is there as soon as that function runs;
* ``importlib.import_module("espnet_plugin....")`` with a constant string (a hidden import).

``from pkg import name`` points at the submodule ``pkg.name`` when it is one, else at ``pkg``. An
import of a package (``espnet_plugin.vae``) is an edge to its ``__init__``. Docstrings and
comments are not imports. Test files are not walked.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

ROOT = Path(__file__).resolve().parents[1]
PKG = "espnet_plugin"


def _modules(root: Path) -> Dict[str, Path]:
    out = {}
    for p in sorted((root / PKG).rglob("*.py")):
        parts = list(p.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def import_graph(root: Path = ROOT) -> Dict[str, Set[str]]:
    """``{module: {modules of the package it imports}}`` (see the module docstring)."""
    mods = _modules(root)

    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    edges: Dict[str, Set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: List[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    src = ".".join(base + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                targets = [f"{src}.{a.name}" if f"{src}.{a.name}" in mods else src for a in node.names]
            elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                  and isinstance(node.args[0].value, str)
                  and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"):
                targets = [node.args[0].value]
            for t in targets:
                if t == PKG or t.startswith(PKG + "."):
                    k = known(t)
                    if k is not None and k != mod:
                        edges[mod].add(k)
    return edges


def find_cycles(edges: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on: Set[str] = set()
    out: List[List[str]] = []

    def visit(v: str) -> None:  # the package graph is shallow: recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_walk_sees_module_and_function_level_and_hidden_imports(tmp_path):
    pkg = tmp_path / PKG
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from espnet_plugin.sub import b\n")
    (pkg / "sub" / "b.py").write_text('"""import espnet_plugin.a (a docstring: no edge)"""\n'
                                      "def f():\n    from .c import x\n")
    (pkg / "sub" / "c.py").write_text("import importlib\nimportlib.import_module('espnet_plugin.a')\n")
    edges = import_graph(tmp_path)
    assert edges["espnet_plugin.a"] == {"espnet_plugin.sub.b"}
    assert edges["espnet_plugin.sub.b"] == {"espnet_plugin.sub.c"}
    assert edges["espnet_plugin.sub.c"] == {"espnet_plugin.a"}
    assert find_cycles(edges) == [["espnet_plugin.a", "espnet_plugin.sub.b", "espnet_plugin.sub.c"]]


def test_the_package_has_no_import_cycle():
    edges = import_graph()
    assert len(edges) > 50 and "espnet_plugin.registry" in edges
    cycles = find_cycles(edges)
    detail = "\n".join(
        " <-> ".join(c) + "\n" + "\n".join(f"    {m} -> {sorted(edges[m] & set(c))}" for m in c) for c in cycles
    )
    assert not cycles, f"import cycles in {PKG}:\n{detail}"
