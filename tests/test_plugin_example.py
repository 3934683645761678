"""The plugin package under examples/plugin: installed, its own tests pass against the
installed labctl, and labctl finds its driver by the registered name."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]


def test_the_plugin_tests_pass(osensa_plugin):
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=osensa_plugin,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout


def test_the_plugin_uses_only_public_labctl_modules(osensa_plugin):
    for path in sorted(osensa_plugin.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("labctl.") or name == "labctl":
                    private = [p for p in name.split(".") if p.startswith("_")]
                    assert not private, f"{path.name} imports the private {name}"
