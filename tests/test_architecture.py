"""The layers of ARCHITECTURE.md hold, and no module imports form a cycle.

Every ``import`` in the source tree is read with ``ast`` (module-level and deferred
imports alike for the floors; module-level ones for cycles, which are what breaks an
import)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "labctl": "labctl",
    "labctl.devices": "devices",
    "labctl.plans": "plans",
    "labctl.simulators": "simulators",
}

#: package -> the labctl packages it may import (besides itself and labctl._lazy)
FLOORS = {
    "labctl.core": set(),
    "labctl.analysis": {"labctl.core"},
    "labctl.data": {"labctl.core"},
    "labctl.simulators": {"labctl.core"},
    "labctl.devices": {"labctl.core", "labctl.data"},
    "labctl.plans": {"labctl.core", "labctl.analysis", "labctl.devices", "labctl.data"},
}


def _modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([package, *parts])
            if package == "labctl" and parts and parts[0] in ("devices", "plans", "simulators"):
                continue
            found[name] = path
    return found


MODULES = _modules()


def _imports(path: Path, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    names = set()
    for node in nodes:
        if isinstance(node, ast.If) and top_level_only:  # TYPE_CHECKING blocks do not run
            continue
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return {n for n in names if n in MODULES}


def _package_of(module: str) -> str:
    for floor in sorted(FLOORS, key=len, reverse=True):
        if module == floor or module.startswith(floor + "."):
            return floor
    return "labctl"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_from_its_floor_or_below(module):
    own = _package_of(module)
    if own not in FLOORS:
        return  # floor 4, the wiring, may import anything
    allowed = FLOORS[own] | {own, "labctl._lazy", "labctl"}
    bad = sorted(
        m
        for m in _imports(MODULES[module], top_level_only=False)
        if _package_of(m) not in allowed and m not in ("labctl", "labctl._lazy")
    )
    assert not bad, f"{module} (floor of {own}) imports {bad}"


def test_no_import_cycles():
    graph = {m: _imports(p, top_level_only=True) for m, p in MODULES.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
