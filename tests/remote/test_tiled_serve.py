"""The served tree's keys: live run stores of a data directory, in run order."""

import pytest

from labctl.core.errors import ConfigError
from labctl.remote import tiled_serve
from labctl.remote.tiled_serve import RunDirectory, run_key


def _store(root, day, name, complete=True):
    path = root / day / f"{name}.zarr"
    path.mkdir(parents=True)
    if complete:
        (path / "zarr.json").write_text("{}")
    return path


def test_keys_follow_date_then_scan_id_and_skip_stores_not_yet_created(tmp_path):
    _store(tmp_path, "2026-03-02", "2_sar_measurement_bbbbbbbb")
    _store(tmp_path, "2026-03-01", "10_magnetic_hyperthermia_cccccccc")
    _store(tmp_path, "2026-03-01", "9_sar_measurement_aaaaaaaa")
    _store(tmp_path, "2026-03-02", "3_sar_measurement_dddddddd", complete=False)
    (tmp_path / "notes.txt").write_text("not a run")
    runs = RunDirectory(tmp_path)
    assert list(runs) == [
        "9_sar_measurement_aaaaaaaa",
        "10_magnetic_hyperthermia_cccccccc",
        "2_sar_measurement_bbbbbbbb",
    ]
    assert len(runs) == 3 and "3_sar_measurement_dddddddd" not in runs
    _store(tmp_path, "2026-03-02", "4_sar_measurement_eeeeeeee")
    assert list(runs)[-1] == "4_sar_measurement_eeeeeeee"  # listed live
    with pytest.raises(KeyError):
        runs["missing"]


def test_run_key_is_the_store_name():
    assert (
        run_key("/data/2026-03-01/9_sar_measurement_aaaaaaaa.zarr") == "9_sar_measurement_aaaaaaaa"
    )


def test_the_tree_needs_a_data_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("LABCTL_DATA_DIR", raising=False)
    with pytest.raises(ConfigError, match="LABCTL_DATA_DIR"):
        tiled_serve.tree  # noqa: B018
    with pytest.raises(ConfigError, match="does not exist"):
        tiled_serve.serve_runs(tmp_path / "nowhere")
