"""Export runs for other tools: CSV and Excel tables, NetCDF datasets.

Tables (CSV, Excel) hold a run's ``primary`` stream, one row per event and one column per
scalar signal, the header naming the unit (``thermo_tumor [degC]``).  The first columns
are the time since the run start, ``t_run [s]`` (reading time of the row minus the
earliest reading of the run; on the simulated twin that is the virtual clock), and, when
the run knows its place in a study, the time since the injection, ``t_post_injection [s]``
(the start document's ``t_post_injection_s`` plus ``t_run``).  Arrays and images are left
out of tables; the Excel file has a second sheet with the start document.

NetCDF (through xarray, the NetCDF-3 writer of scipy) holds every stream, arrays and
images included: variables ``<stream>.<key>`` on dimension ``<stream>.time``, units in
each variable's ``units`` attribute and the start document as JSON in the ``start``
attribute.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from labctl.core.errors import DataError

__all__ = ["run_table", "export_run", "export_study", "FORMATS"]

FORMATS = ("csv", "xlsx", "nc")


def _units(run, stream: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for d in run.descriptors(stream):
        for key, info in d.get("data_keys", {}).items():
            out[key] = info.get("units") or ""
    return out


def _first_reading(run) -> float:
    firsts = []
    for stream in run.streams:
        ts = run.timestamps(stream)
        for k in ts.data_vars:
            v = np.asarray(ts[k].values, dtype=float)
            v = v[np.isfinite(v)]
            if v.size:
                firsts.append(v.min())
    if not firsts:
        raise DataError(f"{run.path}: the run has no readings")
    return float(min(firsts))


def run_table(run):
    """The ``primary`` stream of ``run`` as a pandas DataFrame (module doc for columns)."""
    import pandas as pd

    if "primary" not in run.streams:
        raise DataError(f"{run.path}: no primary stream to export")
    ds = run.stream("primary")
    ts = run.timestamps("primary")
    units = _units(run, "primary")
    scalars = [k for k in ds.data_vars if ds[k].ndim == 1]
    if not scalars:
        raise DataError(f"{run.path}: the primary stream has no scalar signals")
    stamps = np.nanmin(np.stack([np.asarray(ts[k].values, dtype=float) for k in scalars]), axis=0)
    t_run = stamps - _first_reading(run)
    columns = {"t_run [s]": t_run}
    t_pi = run.start.get("t_post_injection_s")
    if isinstance(t_pi, int | float):
        columns["t_post_injection [s]"] = t_run + float(t_pi)
    for key in scalars:
        header = f"{key} [{units.get(key, '')}]" if units.get(key) else key
        columns[header] = np.asarray(ds[key].values)
    return pd.DataFrame(columns)


def _netcdf_dataset(run):
    import xarray as xr

    variables = {}
    for stream in run.streams:
        ds = run.stream(stream)
        units = _units(run, stream)
        for key in ds.data_vars:
            da = ds[key]
            values = np.asarray(da.values)
            if values.dtype.kind in "OUT":
                values = values.astype(str).astype("S")
            elif values.dtype.kind == "b":
                values = values.astype(np.int8)
            elif values.dtype.kind == "u" and values.dtype.itemsize <= 2:
                values = values.astype(np.int32)  # NetCDF-3 has no unsigned types
            elif values.dtype.kind in "iu" and values.dtype.itemsize > 4:
                values = values.astype(np.float64)
            dims = [f"{stream}.time", *(f"{stream}.{key}.dim{i}" for i in range(1, values.ndim))]
            variables[f"{stream}.{key}"] = xr.Variable(
                dims, values, attrs={"units": units.get(key, "")}
            )
        variables[f"{stream}.time"] = xr.Variable(
            [f"{stream}.time"], np.asarray(ds["time"].values, dtype=float), {"units": "s"}
        )
    attrs = {"uid": run.uid, "start": json.dumps(run.start, default=str)}
    return xr.Dataset(variables, attrs=attrs)


def export_run(path: str | Path, fmt: str, out: str | Path) -> Path:
    """Write the run stored at ``path`` to ``out`` as ``fmt`` (csv, xlsx, nc)."""
    from labctl.data import read_run

    if fmt not in FORMATS:
        raise DataError(f"unknown export format {fmt!r} (choose {', '.join(FORMATS)})")
    run = read_run(path)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        run_table(run).to_csv(out, index=False)
    elif fmt == "xlsx":
        import pandas as pd

        with pd.ExcelWriter(out, engine="openpyxl") as writer:
            run_table(run).to_excel(writer, sheet_name="primary", index=False)
            start = {
                k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in run.start.items()
            }
            pd.DataFrame({"key": list(start), "value": [str(v) for v in start.values()]}).to_excel(
                writer, sheet_name="start", index=False
            )
    else:
        _netcdf_dataset(run).to_netcdf(out, engine="scipy")
    return out


def export_study(runs, fmt: str, out_dir: str | Path) -> Path:
    """Export catalog entries ``runs`` (a study's) into ``out_dir``, one file per run
    named ``<subject>_<session>_<plan>_<uid8>.<fmt>``, plus ``index.csv`` listing them."""
    import pandas as pd

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for r in runs:
        s = r.start
        name = (
            "_".join(str(s.get(k) or "-") for k in ("subject", "session"))
            + f"_{r.plan_name}_{r.uid[:8]}.{fmt}"
        )
        try:
            export_run(r.path, fmt, out_dir / name)
            status = "exported"
        except DataError as exc:
            name, status = "", str(exc)
        rows.append(
            {
                "uid": r.uid,
                "subject": s.get("subject"),
                "group": s.get("group"),
                "session": s.get("session"),
                "t_post_injection [s]": s.get("t_post_injection_s"),
                "plan": r.plan_name,
                "exit_status": r.exit_status,
                "file": name,
                "export": status,
            }
        )
    index = out_dir / "index.csv"
    pd.DataFrame(rows).to_csv(index, index=False)
    return index
