"""Reading runs: ``read_run(path)`` gives the documents and each stream as xarray.

Streams open through xarray's lazy zarr backend (``chunks=None``: nothing is read
until indexed; dask is not needed), so a frame array is sliced without loading it.
Frames a detector wrote as StreamResource assets appear in the stream as ordinary
variables indexed by ``time``.  A store whose process died still opens: every stream
is cut to the rows all its arrays hold (``labctl.data.recover`` completes it).
"""

from __future__ import annotations

import json
import warnings
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import xarray as xr

from labctl.core.errors import DataError
from labctl.data._store import read_root_attrs
from labctl.data.journal import JOURNAL_NAME, read_journal

__all__ = ["Run", "read_run", "open_run"]


def _group_attrs(path: Path, group: str) -> dict:
    try:
        with open(path / group / "zarr.json", "rb") as f:
            return json.loads(f.read()).get("attributes") or {}
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: stream group {group!r} unreadable: {exc}") from exc


def _array_lengths(path: Path, group: str) -> dict[str, int]:
    """First-axis length of every array directly in ``group`` (from its zarr.json)."""
    out = {}
    for meta in (path / group).glob("*/zarr.json"):
        try:
            with open(meta, "rb") as f:
                md = json.loads(f.read())
        except (OSError, ValueError):
            continue
        if md.get("node_type") == "array" and md.get("shape"):
            out[meta.parent.name] = int(md["shape"][0])
    return out


def _open_group(path: Path, group: str, n: int | None = None) -> xr.Dataset:
    """Open a group lazily; arrays of unequal length (a crash mid-flush) are cut to ``n``."""
    kw: dict[str, Any] = dict(
        engine="zarr", group=group, consolidated=False, chunks=None, cache=False, decode_times=False
    )
    lengths = _array_lengths(path, group)
    if not lengths:
        return xr.Dataset()
    n_min = min(lengths.values()) if n is None else min(n, *lengths.values())
    if len(set(lengths.values())) == 1:
        ds = xr.open_dataset(str(path), **kw)
    else:  # open each length class on its own, then cut and merge
        parts = []
        for length in sorted(set(lengths.values())):
            drop = [k for k, v in lengths.items() if v != length]
            parts.append(xr.open_dataset(str(path), drop_variables=drop, **kw))
        ds = xr.merge(
            [p.isel({d: slice(0, n_min) for d in p.dims if d == "time"}) for p in parts],
            compat="override",
            join="override",
        )
    if "time" in ds.dims and ds.sizes["time"] > n_min:
        ds = ds.isel(time=slice(0, n_min))
    return ds


class Run:
    """One run store: ``uid``, ``start``, ``stop``, ``streams``, ``stream(name)``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._attrs = read_root_attrs(self.path)

    def __repr__(self) -> str:
        status = self.stop.get("exit_status") if self.stop else "incomplete"
        return f"<Run {self.uid[:8]} {self.start.get('plan_name', '')} {status} {self.path}>"

    @property
    def uid(self) -> str:
        return self.start["uid"]

    @property
    def start(self) -> dict:
        return self._attrs["start"]

    @property
    def stop(self) -> dict | None:
        """The stop document (None while running or after a crash before recovery)."""
        return self._attrs.get("stop")

    @cached_property
    def _groups(self) -> dict[str, str]:
        streams = dict(self._attrs.get("streams") or {})
        if not streams:  # crashed before the first flush wrote the map
            for meta in sorted(self.path.glob("*/zarr.json")):
                attrs = _group_attrs(self.path, meta.parent.name)
                if "descriptors" in attrs:
                    streams[attrs.get("labctl", {}).get("stream", meta.parent.name)] = (
                        meta.parent.name
                    )
        return streams

    @property
    def streams(self) -> list[str]:
        return list(self._groups)

    def descriptors(self, name: str) -> list[dict]:
        return self._stream_attrs(name).get("descriptors", [])

    def _stream_attrs(self, name: str) -> dict:
        if name not in self._groups:
            raise DataError(f"{self.path}: no stream {name!r} (streams: {self.streams})")
        return _group_attrs(self.path, self._groups[name])

    def stream(self, name: str = "primary") -> xr.Dataset:
        """The stream as a Dataset indexed by ``time`` (event time, epoch seconds).

        Variables are named by data key; ``seq_num`` is a coordinate; frames written
        as assets are lazy variables like the others.
        """
        attrs = self._stream_attrs(name)
        info = attrs.get("labctl", {})
        ds = _open_group(self.path, self._groups[name])
        if "time" not in ds.variables:
            return xr.Dataset(attrs={"stream": name})
        renames = {
            arr: key
            for key, arr in info.get("data_keys", {}).items()
            if arr in ds.variables and arr != key
        }
        ds = ds.rename(renames).set_coords("seq_num")
        described = {k: v for d in attrs.get("descriptors", []) for k, v in d["data_keys"].items()}
        for key, ranges in info.get("external", {}).items():
            da = self._external(key, ranges, ds.sizes["time"], "array")
            ds[key] = da.assign_coords(time=ds["time"]).assign_attrs(described.get(key, {}))
        ds.attrs = {"stream": name, "uid": self.uid}
        return ds

    def timestamps(self, name: str = "primary") -> xr.Dataset:
        """Reading timestamps (epoch seconds) of every data key, indexed like ``stream``."""
        attrs = self._stream_attrs(name)
        info = attrs.get("labctl", {})
        group = self._groups[name]
        base = _open_group(self.path, group)
        if "time" not in base.variables:
            return xr.Dataset()
        n = base.sizes["time"]
        ds = _open_group(self.path, f"{group}/timestamps", n)
        renames = {arr.rpartition("/")[2]: key for key, arr in info.get("timestamps", {}).items()}
        ds = ds.rename({k: v for k, v in renames.items() if k in ds.variables and k != v})
        if "time" in ds.dims:
            ds = ds.assign_coords(time=base["time"].values[: ds.sizes["time"]])
        else:
            ds = xr.Dataset(coords={"time": base["time"].values})
        for key, ranges in info.get("external", {}).items():
            ds[key] = (
                self._external(key, ranges, n, "timestamps")
                .load()
                .assign_coords(time=base["time"].values)
            )
        return ds

    # -- frames written by detectors ------------------------------------------------------
    def _resource_store(self, doc: dict) -> Path:
        uri = urlparse(doc.get("uri", ""))
        target = Path(uri.path)
        if target.name == self.path.name or not target.exists():
            return self.path  # the run's own store, wherever it now lives
        return target

    def _external(self, key: str, ranges: list, n: int, what: str) -> xr.DataArray:
        resources = self._attrs.get("stream_resources", {})
        rows = np.full(n, -1, dtype=np.int64)
        uids = {r[0] for r in ranges}
        if len(uids) != 1:
            raise DataError(
                f"{self.path}: {key} spans {len(uids)} stream resources; "
                "read them with open_resource()"
            )
        (uid,) = uids
        for _, r0, r1, i0 in ranges:
            r1 = min(r1, n)
            if r1 > r0:
                rows[r0:r1] = np.arange(i0, i0 + r1 - r0)
        doc = resources.get(uid)
        if doc is None:
            raise DataError(f"{self.path}: stream resource {uid} of {key} not recorded")
        da = self.open_resource(doc, what)
        fdim = da.dims[0]
        valid = (rows >= 0) & (rows < da.sizes[fdim])
        if valid.all() and n and np.array_equal(rows, np.arange(rows[0], rows[0] + n)):
            out = da.isel({fdim: slice(int(rows[0]), int(rows[0]) + n)})
        elif valid.all():
            out = da.isel({fdim: rows})
        else:  # damaged run: frames missing for some rows (loads the referenced frames)
            fill = np.nan if da.dtype.kind == "f" else 0
            data = np.full((n, *da.shape[1:]), fill, dtype=da.dtype)
            if valid.any():
                data[valid] = da.isel({fdim: rows[valid]}).values
            out = xr.DataArray(data, dims=da.dims, attrs=da.attrs)
        dims = {fdim: "time"} | {d: f"{key}_dim_{i}" for i, d in enumerate(da.dims[1:], 1)}
        return out.rename(dims).drop_vars(list(out.coords))

    def open_resource(self, doc: dict, what: str = "array") -> xr.DataArray:
        """The lazy frame (``what="array"``) or timestamp array of a StreamResource."""
        path = doc.get("parameters", {}).get(what)
        if not path:
            raise DataError(f"stream resource {doc.get('uid')} has no {what!r} parameter")
        group, _, name = path.rpartition("/")
        ds = _open_group(self._resource_store(doc), group)
        if name not in ds.variables:
            raise DataError(f"{self.path}: {path} not found")
        return ds[name]

    def documents(self) -> list[tuple[str, dict]]:
        """Every document from the journal (array values as references)."""
        return list(read_journal(self.path / JOURNAL_NAME))


def read_run(path: str | Path) -> Run:
    """Open a run store written by ``RunWriter`` (raises ``DataError`` otherwise)."""
    return Run(path)


def open_run(path: str | Path) -> Run:
    """Deprecated name of :func:`read_run` (easily confused with bluesky's
    ``open_run`` plan stub); kept for one release."""
    warnings.warn(
        "labctl.data.open_run is renamed read_run; open_run goes in the next release",
        DeprecationWarning,
        stacklevel=2,
    )
    return Run(path)
