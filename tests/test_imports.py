"""The library's imports, walked from the source (module level and inside functions): no import
circle between modules, and no back-arrow between wings (the wings' graph has no circle, so they
can be drawn in one order with every arrow pointing the same way). Also the library never imports
gradio or argparse."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "disguise"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every name ``path`` imports, anywhere in it, as absolute dotted names (a ``from m import n``
    gives both ``m`` and ``m.n``: ``n`` may be a module)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    return out


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan's, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, edges = work[-1]
            for w in edges:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def library_graph() -> tuple[dict[str, set[str]], dict[str, Path]]:
    modules = {module_name(p): p for p in LIBRARY.rglob("*.py")}
    return {m: {t for t in imported(p) if t in modules and t != m} for m, p in modules.items()}, modules


def wing(module: str, modules: dict[str, Path]) -> str:
    """``disguise.sliders.bank`` -> ``sliders``; the top-level basics (``disguise.files``) -> ``(top)``."""
    parts = module.split(".")
    if len(parts) > 2 or modules[module].name == "__init__.py" and len(parts) == 2:
        return parts[1]
    return "(top)"


def test_circles_finds_a_circle_and_nothing_else():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_no_import_circle_between_modules():
    graph, _ = library_graph()
    assert circles(graph) == []


def test_no_back_arrow_between_wings():
    graph, modules = library_graph()
    wings: dict[str, set[str]] = {}
    for m, targets in graph.items():
        for t in targets:
            if wing(m, modules) != wing(t, modules):
                wings.setdefault(wing(m, modules), set()).add(wing(t, modules))
    assert circles(wings) == [], {w: sorted(t) for w, t in wings.items()}
    assert "(top)" not in wings, f"the top-level basics import wings: {sorted(wings.get('(top)', ()))}"


def test_the_library_never_imports_gradio_or_argparse():
    offenders = {module_name(p): sorted(n for n in imported(p) if n.split(".")[0] in ("gradio", "argparse"))
                 for p in LIBRARY.rglob("*.py")}
    assert not {m: n for m, n in offenders.items() if n}
