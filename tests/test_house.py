"""The house in order: every module says briefly what it is for, and the modules and names its
docstrings point at exist."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_DOCSTRING_LINES = 15
DOTTED = re.compile(r"(?<![\w.])disguise(?:\.[A-Za-z_]\w*)+")


def project_files() -> list[Path]:
    """Every module of the library, the command lines, the benchmarks and the app."""
    files = [*ROOT.glob("disguise/**/*.py"), *ROOT.glob("train/*.py"), *ROOT.glob("bench/*.py"), ROOT / "app.py"]
    return sorted(files)


def docstrings(tree: ast.Module):
    """``(line, text)`` of the module's docstring and of every class's and function's."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            text = ast.get_docstring(node, clean=False)
            if text is not None:
                yield node.body[0].lineno, text


def resolves(dotted: str) -> bool:
    """Whether ``disguise.a.b.c`` names a module, or an attribute reached from the longest module prefix."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        name = ".".join(parts[:i])
        try:
            obj = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name is None or not name.startswith(e.name):
                raise  # the module exists but fails to import something else: not ours to hide
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_module_docstrings_are_short_and_name_real_modules():
    long, missing, stale, known = [], [], [], {}
    for path in project_files():
        rel = path.relative_to(ROOT)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(rel))
        doc = tree.body[0] if tree.body and isinstance(tree.body[0], ast.Expr) else None
        if ast.get_docstring(tree, clean=False) is None:
            missing.append(str(rel))
        elif (lines := doc.end_lineno - doc.lineno + 1) > MAX_DOCSTRING_LINES:
            long.append(f"{rel}: {lines} lines")
        for first, text in docstrings(tree):
            for match in DOTTED.finditer(text):
                ref = match.group()
                if ref not in known:
                    known[ref] = resolves(ref)
                if not known[ref]:
                    stale.append(f"{rel}:{first + text.count(chr(10), 0, match.start())}: {ref}")
    problems = []
    if missing:
        problems.append("no module docstring:\n  " + "\n  ".join(missing))
    if long:
        problems.append(f"module docstrings over {MAX_DOCSTRING_LINES} lines:\n  " + "\n  ".join(long))
    if stale:
        problems.append("docstrings naming a module or name that does not exist:\n  " + "\n  ".join(stale))
    assert not problems, "\n".join(problems)
