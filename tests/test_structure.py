"""The house rules that keep the code navigable, checked on every run (see docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Packages held to the limits; the demo model's training code is a script-like exception.
PACKAGES = ("models", "export", "service")
EXEMPT = ("models/demo/",)
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 450


def _sources() -> list[Path]:
    files = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    return [p for p in files if not any(p.relative_to(ROOT).as_posix().startswith(e) for e in EXEMPT)]


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def test_no_function_is_longer_than_the_limit() -> None:
    long = []
    for path in _sources():
        for fn in _functions(ast.parse(path.read_text(encoding="utf-8"))):
            length = (fn.end_lineno or fn.lineno) - fn.lineno + 1
            if length > MAX_FUNCTION_LINES:
                long.append(f"{path.relative_to(ROOT)}:{fn.lineno} {fn.name} ({length} lines)")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_no_module_is_longer_than_the_limit() -> None:
    long = [
        f"{p.relative_to(ROOT)} ({n} lines)"
        for p in _sources()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    ("package", "forbidden"), [("models", {"export", "service"}), ("export", {"service"})]
)
def test_layers_point_one_way(package: str, forbidden: set[str]) -> None:
    bad = [
        f"{p.relative_to(ROOT)} imports {sorted(_imports(p) & forbidden)}"
        for p in sorted((ROOT / package).rglob("*.py"))
        if _imports(p) & forbidden
    ]
    assert not bad, bad
