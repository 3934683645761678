"""The package namespace re-exports every submodule's public names, lazily."""

from __future__ import annotations

import importlib
import subprocess
import sys

import labctl.analysis as analysis


def test_all_matches_submodules() -> None:
    expected = {}
    for module in ("sar", "dose", "pce", "control", "unmix", "oa_thermometry"):
        mod = importlib.import_module(f"labctl.analysis.{module}")
        expected.update(dict.fromkeys(mod.__all__, module))
    assert expected == analysis._SUBMODULE
    assert sorted(analysis.__all__) == sorted(expected)
    for name, module in expected.items():
        assert getattr(analysis, name) is getattr(
            importlib.import_module(f"labctl.analysis.{module}"), name
        )


def test_import_is_light() -> None:
    code = (
        "import sys; from labctl.analysis import PID, cem43, CEM43Accumulator; "
        "print('scipy.optimize' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
