"""Export: CSV and Excel tables with times and units, NetCDF with the images."""

import os
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import xarray as xr

from labctl.app.cli import main
from labctl.data import read_run
from labctl.data.export import export_run
from labctl.protocol.runner import run_protocol

BENCH = Path(__file__).resolve().parents[2] / "examples" / "benches" / "sim-mouse.yaml"

PROTOCOL = f"""\
protocol: short-heat-and-image
bench: {BENCH}
steps:
  - plan: magnetic_hyperthermia
    args: {{target: 42.0, hold: 60, frequency: 230000, max_field: 14.0}}
  - plan: fluorescence_timecourse
    args: {{times_post_injection: [0]}}
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    protocol = root / "p.yaml"
    protocol.write_text(PROTOCOL)
    steps = run_protocol(
        protocol,
        sim=True,
        data_dir=root / "data",
        quiet=True,
        metadata={"subject": "M7", "t_post_injection_s": 7200.0},
        sample={"kind": "mouse_tumor", "agent_dose": 2.0, "agent_injected_h_before": 2.0},
    )
    assert [s.exit_status for s in steps] == ["success", "success"]
    return root, steps


def test_csv_has_times_since_run_start_and_injection_and_units(runs, tmp_path):
    _, steps = runs
    out = export_run(steps[0].path, "csv", tmp_path / "heat.csv")
    df = pd.read_csv(out)
    assert list(df.columns[:2]) == ["t_run [s]", "t_post_injection [s]"]
    assert "thermo_tumor [degC]" in df.columns and "amf_field [kA/m]" in df.columns
    t = df["t_run [s]"].to_numpy()
    run = read_run(steps[0].path)
    stamps = run.timestamps("primary")["thermo_tumor"].values
    assert t[0] >= 0 and np.all(np.diff(t) > 0)
    assert t[-1] == pytest.approx(stamps[-1] - stamps[0], abs=2.0)  # the run's duration
    assert t[-1] > 60  # at least the hold
    assert df["t_post_injection [s]"].to_numpy() == pytest.approx(t + 7200.0)
    stored = run.stream("primary")["thermo_tumor"].values
    assert df["thermo_tumor [degC]"].to_numpy() == pytest.approx(stored, nan_ok=True)


def test_xlsx_opens_in_openpyxl_with_the_start_document(runs, tmp_path):
    _, steps = runs
    out = export_run(steps[0].path, "xlsx", tmp_path / "heat.xlsx")
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["primary", "start"]
    header = [c.value for c in wb["primary"][1]]
    assert header[:2] == ["t_run [s]", "t_post_injection [s]"]
    keys = {row[0].value: row[1].value for row in wb["start"].iter_rows(min_row=2)}
    assert keys["subject"] == "M7"


def test_netcdf_holds_the_image_and_units(runs, tmp_path):
    _, steps = runs
    out = export_run(steps[1].path, "nc", tmp_path / "image.nc")
    with xr.open_dataset(out, engine="scipy") as ds:
        image = ds["primary.fluo_image"].values[0]
        stored = read_run(steps[1].path).stream("primary")["fluo_image"].values[0]
        assert np.array_equal(image.astype(np.int64), stored.astype(np.int64))
        assert '"subject": "M7"' in ds.attrs["start"]


def test_cli_finds_a_run_by_uid_prefix_from_any_directory(runs, tmp_path, monkeypatch):
    root, steps = runs
    from labctl.data.locations import register_data_dir

    register_data_dir(root / "data")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["export", steps[0].uid[:8], "--format", "csv", "-o", "out.csv"]) == 0
    assert pd.read_csv(elsewhere / "out.csv").shape[0] > 60
    assert main(["show", steps[0].uid[:8]]) == 0
    assert os.environ["LABCTL_CATALOG"]  # the test's own catalog file, not the user's
