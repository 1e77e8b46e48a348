"""The package's layers import downward only: no circle among `classit_ray`'s modules, counting the
imports placed inside functions (an import inside a function may keep torch or Ray out of a light
process; it may not hide a circle). Imports under `if TYPE_CHECKING:` are not counted: they never
run. Read from the source with `ast`, so the check needs nothing imported."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "classit_ray"

# Circles known and being removed by their owner; each entry is the circle's sorted module names.
KNOWN_CIRCLES: set[tuple[str, ...]] = set()


def module_names(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package at `root`."""
    names = {}
    for f in root.rglob("*.py"):
        parts = f.relative_to(root.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return names


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for sub in node.body for n in ast.walk(sub))
    return skip


def import_edges(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the package modules it imports, anywhere in its file (functions included)."""

    def owner(name: str) -> str | None:  # the module a dotted name lives in ("a.b.func" -> "a.b")
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                targets = [owner(a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                    base = ".".join([*here[: len(here) - node.level + 1], *([node.module] if node.module else [])])
                else:
                    base = node.module or ""
                targets = [owner(f"{base}.{a.name}") for a in node.names]
            else:
                continue
            # A package's __init__ imported by its own submodule is a parent, not a circle of design.
            edges[module].update(t for t in targets if t and t != module and not module.startswith(t + "."))
    return edges


def circles(edges: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(tuple(sorted(component)))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_among_the_packages_modules():
    found = set(circles(import_edges(module_names(PACKAGE))))
    new = sorted(found - KNOWN_CIRCLES)
    assert not new, "import circles: " + "; ".join(" <-> ".join(c) for c in new)


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    for f in ("__init__.py", "sub/__init__.py"):
        (pkg / f).write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import a\n    return a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    assert circles(import_edges(module_names(pkg))) == [("pkg.a", "pkg.sub.b")]


def test_no_library_module_imports_a_command_module():
    """The command line is the top layer: `cli.py` and the flags the verbs share (`commands.py`)
    are imported by the verbs' own modules and the `python -m` aliases, never by the library."""
    from classit_ray.cli import VERBS

    modules = module_names(PACKAGE)
    commands = {"classit_ray.cli", "classit_ray.commands"}
    verbs = {verb.target.split(":")[0] for verb in VERBS.values()}
    aliases = {m for m, f in modules.items() if f.name == "__main__.py"} | {
        "classit_ray.data.prepare",
        "classit_ray.train.pretrain",
        "classit_ray.train.instruct",
    }
    edges = import_edges(modules)
    wrong = {
        m: sorted(edges[m] & commands) for m in modules if m not in commands | verbs | aliases and edges[m] & commands
    }
    assert not wrong, f"library modules importing the command line: {wrong}"
