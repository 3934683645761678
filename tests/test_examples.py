"""The example scripts and protocols run, so they never rot."""

import importlib.util
import math
from pathlib import Path

import pytest

from labctl.app.cli import main as labctl_main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sar_script(tmp_path, capsys):
    result = load_script("sar_vial").main(
        ["--heat-time", "120", "--cool-time", "60", "--data-dir", str(tmp_path)]
    )
    assert result.box_lucas.sar_W_per_g > 0
    assert "run data:" in capsys.readouterr().out


def test_hyperthermia_script(tmp_path, capsys):
    summary = load_script("magnetic_hyperthermia").main(
        ["--hold", "60", "--data-dir", str(tmp_path)]
    )
    assert math.isfinite(summary.t_reached)
    assert "CEM43" in capsys.readouterr().out


def test_photothermal_script(tmp_path, capsys):
    pce, ptt = load_script("photothermal").main(
        ["--duration", "120", "--heat-time", "600", "--data-dir", str(tmp_path)]
    )
    assert 0 < pce.eta < 1
    assert ptt.T_max_C > ptt.T_start_C
    assert "photothermal conversion efficiency" in capsys.readouterr().out


@pytest.mark.parametrize("protocol", ["sar-vial.yaml"])
def test_protocols_run_with_labctl_run(protocol, tmp_path, capsys):
    code = labctl_main(
        ["run", str(EXAMPLES / "protocols" / protocol), "--sim", "--data-dir", str(tmp_path)]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert ": success, data in " in out
