"""Session fixtures shared across the test tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[1] / "examples" / "plugin"


@pytest.fixture(scope="session")
def osensa_plugin() -> Path:
    """``examples/plugin`` installed into this environment (once per session).

    Its dependencies come with labctl's ``test`` extra, so it installs without them and
    without an isolated build.
    """
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         str(PLUGIN)],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.fail(f"installing {PLUGIN.name} failed:\n{proc.stdout}\n{proc.stderr}")
    return PLUGIN
