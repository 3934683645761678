"""Habits the source keeps: short functions (the complexity limit is ruff's C901, in
pyproject.toml, checked by CI)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(
    p
    for folder in ("labctl", "devices", "plans", "simulators")
    for p in (ROOT / folder).rglob("*.py")
)
#: the longest a function may be, lines (docstring included); ~80 with some slack
MAX_LINES = 90


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_function_is_longer_than_the_limit(path):
    tree = ast.parse(path.read_text())
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_LINES
    ]
    assert not long, f"{path.name}: {', '.join(long)}"
