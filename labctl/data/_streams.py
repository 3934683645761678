"""One stream of a run (``primary``, ``baseline``, a camera...) as columns of rows.

Row ``r`` of a stream is the ``r``-th event of that stream in arrival order (plus rows
made from StreamDatum documents that no event claimed, as in ``collect``).  Every
column of a stream has one value per row (the fill value where a descriptor lacked
the key).  The RunEngine thread appends raw values under the writer's lock; the flush
side converts and writes them (``_store.write_columns``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labctl.core.errors import DataError
from labctl.data._store import MISSING, ColumnArray, chunk_rows_for, fill_for

RESERVED = {"time", "seq_num", "timestamps", "zarr.json"}
SCALAR_CHUNK_BYTES = 32 * 1024  # a flush re-encodes the last chunk: keep it small
ARRAY_CHUNK_BYTES = 2 * 1024 * 1024
INLINE_MAX = 16  # arrays up to this many elements are written inline in the journal

_BY_KIND = {"number": "float64", "integer": "int64", "boolean": "bool", "string": "str"}


def safe_name(name: str, taken: set[str]) -> str:
    """A zarr node name for ``name`` (no '/', not reserved, unique within ``taken``)."""
    base = re.sub(r"[/\\]", "_", str(name)).strip() or "key"
    if base.startswith("__") or base.startswith("."):
        base = "k" + base
    if base in RESERVED:
        base = f"{base}_data"
    out, i = base, 2
    while out in taken:
        out, i = f"{base}_{i}", i + 1
    taken.add(out)
    return out


def resolve_dtype(info: dict, value: Any) -> np.dtype | str:
    """The array dtype of a data key, from its first value and its descriptor entry.

    Booleans and strings follow the value (ophyd describes booleans as "integer");
    otherwise a numeric ``dtype_numpy`` wins, then the JSON kind ("integer" stays
    int64 only while the value is an integer), then the value's own dtype.
    """
    if isinstance(value, bool | np.bool_):
        return np.dtype(bool)
    if info.get("dtype") == "string" or isinstance(value, str):
        return "str"
    dn = info.get("dtype_numpy")
    if isinstance(dn, str) and dn:
        try:
            dt = np.dtype(dn)
            if dt.kind in "biufc":
                return dt
        except TypeError:
            pass
    if np.ndim(value) == 0:
        kind = info.get("dtype")
        if kind == "boolean":
            return np.dtype(bool)
        if kind == "integer" and isinstance(value, int | np.integer):
            return np.dtype("int64")
        if kind in ("number", "integer"):
            return np.dtype("float64")
    dt = np.asarray(value).dtype
    if dt.kind in "OUS":
        return "str"
    return dt


@dataclass
class _Plan:
    """How the events of one descriptor map onto the stream's columns."""

    uid: str
    keys: dict[str, dict]  # data key -> data key info (non-external)
    external: set[str]
    cols: list[tuple[str, ColumnArray, ColumnArray]] = field(default_factory=list)
    refs: list[tuple[str, ColumnArray, ColumnArray]] = field(default_factory=list)
    absent: list[ColumnArray] = field(default_factory=list)
    unresolved: set[str] = field(default_factory=set)


@dataclass
class _SD:
    seq0: int
    seq1: int
    key: str
    resource: str
    index0: int
    received: float


class StreamBuffer:
    """The rows of one stream, in memory until flushed."""

    def __init__(
        self, name: str, group: str, compressors: Any = "auto", scalar_compressors: Any = None
    ):
        self.name = name
        self.group = group
        self.compressors = compressors  # array-valued keys
        self.scalar_compressors = scalar_compressors  # one value a row (raw: patched in place)
        self.n_rows = 0
        self.time = self._column(
            "time",
            (),
            "float64",
            math.nan,
            {"units": "s", "long_name": "event time, epoch seconds"},
        )
        self.seq = self._column("seq_num", (), "int64", 0, {"long_name": "event sequence number"})
        self.columns: list[ColumnArray] = [self.time, self.seq]
        self.data: dict[str, ColumnArray] = {}
        self.ts: dict[str, ColumnArray] = {}
        self.plans: dict[str, _Plan] = {}
        self.infos: dict[str, dict] = {}
        self.names: set[str] = set(RESERVED)
        self.ts_names: set[str] = set(RESERVED)
        self.descriptors: list[dict] = []
        self.external: dict[str, list[list]] = {}
        self.descriptor_rows: list[list] = []
        self.pending_sd: list[_SD] = []
        self.attrs_dirty = True
        self.opener: Any = None  # recovery: (group, name, row) -> existing ColumnArray

    def _column(
        self, name: str, shape: tuple, dtype: Any, fill: Any, attrs: dict, sub: str = ""
    ) -> ColumnArray:
        itemsize = np.dtype(dtype).itemsize if dtype != "str" else 32
        target = SCALAR_CHUNK_BYTES if not shape else ARRAY_CHUNK_BYTES
        dims = ("time",) + tuple(f"{name}_dim_{i + 1}" for i in range(len(shape)))
        group = f"{self.group}/{sub}" if sub else self.group
        return ColumnArray(
            group,
            name,
            shape,
            dtype,
            fill=fill,
            dims=dims,
            attrs=attrs,
            chunk_rows=chunk_rows_for(shape, itemsize, target),
            start_row=self.n_rows,
            compressors=self.compressors if shape else self.scalar_compressors,
        )

    # -- descriptors ----------------------------------------------------------------
    def add_descriptor(self, doc: dict) -> None:
        keys, external = {}, set()
        for key, info in doc.get("data_keys", {}).items():
            if info.get("external") == "STREAM:":
                external.add(key)
            else:
                keys[key] = info
                self.infos.setdefault(key, info)
        plan = _Plan(doc["uid"], keys, external, unresolved=set(keys) - set(self.data))
        self.plans[doc["uid"]] = plan
        self.descriptors.append(doc)
        self._replan()
        self.attrs_dirty = True

    def _replan(self) -> None:
        resolved = set(self.data)
        for plan in self.plans.values():
            plan.unresolved = set(plan.keys) - resolved
            present = [k for k in plan.keys if k in resolved]
            plan.cols = [
                (k, self.data[k], self.ts[k]) for k in present if not self.data[k].row_shape
            ]
            plan.refs = [(k, self.data[k], self.ts[k]) for k in present if self.data[k].row_shape]
            plan.absent = [c for k in resolved - set(plan.keys) for c in (self.data[k], self.ts[k])]

    def _resolve(self, plan: _Plan, data: dict) -> None:
        """Create the columns of keys seen for the first time (shape/dtype from the value).

        A value MISSING (recovery: it was journaled by reference) takes its shape and
        dtype from the descriptor; ``self.opener`` (recovery) supplies arrays already
        in the store.
        """
        for key in [k for k in plan.keys if k in plan.unresolved]:
            if key not in data:
                continue
            info, value = plan.keys[key], data[key]
            if value is MISSING:
                value = np.zeros(
                    tuple(info.get("shape") or ()), dtype=resolve_dtype(info, np.zeros(()))
                )
            shape = tuple(np.shape(value)) if not isinstance(value, str) else ()
            dtype = resolve_dtype(info, value)
            fill = fill_for(np.dtype(object) if dtype == "str" else np.dtype(dtype))
            attrs = {k: v for k, v in info.items() if k != "shape"} | {
                "data_key": key,
                "shape": list(shape),
            }
            name = safe_name(key, self.names)
            tname = safe_name(key, self.ts_names)
            col = self.opener(self.group, name, self.n_rows) if self.opener else None
            col = col or self._column(name, shape, dtype, fill, attrs)
            tcol = (
                self.opener(f"{self.group}/timestamps", tname, self.n_rows) if self.opener else None
            )
            tcol = tcol or self._column(
                tname,
                (),
                "float64",
                math.nan,
                {"units": "s", "long_name": f"reading timestamp of {key}", "data_key": key},
                sub="timestamps",
            )
            self.data[key], self.ts[key] = col, tcol
            self.columns += [col, tcol]
            self.attrs_dirty = True
        self._replan()

    # -- events -----------------------------------------------------------------------
    def add_event(self, doc: dict, received: float, reader: Any) -> dict | None:
        """Append one event as a row; return the journal's ``data`` if it has references."""
        plan = self.plans.get(doc["descriptor"])
        if plan is None:
            raise DataError(f"event {doc.get('uid')} refers to unknown descriptor")
        seq = doc["seq_num"]
        if self.pending_sd:
            self._materialize(reader, before=seq)
        data, ts = doc["data"], doc["timestamps"]
        if plan.unresolved:
            self._resolve(plan, data)
            plan = self.plans[doc["descriptor"]]
        row = self.n_rows
        if not self.descriptor_rows or self.descriptor_rows[-1][0] != plan.uid:
            self.descriptor_rows.append([plan.uid, row])
            self.attrs_dirty = True
        self.time.pending.append(doc["time"])
        self.seq.pending.append(seq)
        for key, col, tcol in plan.cols:
            col.pending.append(data.get(key, MISSING))
            tcol.pending.append(ts.get(key, MISSING))
        jdata = None
        for key, col, tcol in plan.refs:
            value = data.get(key, MISSING)
            tcol.pending.append(ts.get(key, MISSING))
            if value is not MISSING and np.shape(value) == col.row_shape:
                col.pending.append(value)
                if col.size > INLINE_MAX:
                    if jdata is None:
                        jdata = dict(data)
                    jdata[key] = {"ref": col.path, "row": row}
            else:
                col.pending.append(MISSING)  # the journal keeps the value inline
        for col in plan.absent:
            col.pending.append(MISSING)
        self.n_rows += 1
        if self.pending_sd:
            self._claim(seq, row)
        return jdata

    # -- external (StreamDatum) rows ---------------------------------------------------
    def add_stream_datum(self, doc: dict, resource: dict, received: float, reader: Any) -> None:
        s0, s1 = doc["seq_nums"]["start"], doc["seq_nums"]["stop"]
        i0, i1 = doc["indices"]["start"], doc["indices"]["stop"]
        if s1 - s0 != i1 - i0:
            raise DataError(f"stream datum {doc['uid']}: seq_nums and indices differ in length")
        self._materialize(reader, before=s0)
        self.pending_sd.append(_SD(s0, s1, resource["data_key"], resource["uid"], i0, received))

    def _claim(self, seq: int, row: int) -> None:
        """Give the event just added (``seq`` at ``row``) the frames its datums announced."""
        keep = []
        for sd in self.pending_sd:
            if sd.seq0 <= seq < sd.seq1:
                self._add_ref(sd.key, sd.resource, row, 1, sd.index0 + seq - sd.seq0)
                if seq + 1 < sd.seq1:
                    keep.append(
                        _SD(
                            seq + 1,
                            sd.seq1,
                            sd.key,
                            sd.resource,
                            sd.index0 + seq + 1 - sd.seq0,
                            sd.received,
                        )
                    )
            else:
                keep.append(sd)
        self.pending_sd = keep

    def materialize_all(self, reader: Any) -> None:
        self._materialize(reader, before=None)

    def _materialize(self, reader: Any, before: int | None) -> None:
        """Rows for datums no event claimed (``collect``): those ending at or before ``before``."""
        ready = [sd for sd in self.pending_sd if before is None or sd.seq1 <= before]
        if not ready:
            return
        self.pending_sd = [sd for sd in self.pending_sd if sd not in ready]
        groups: dict[tuple[int, int], list[_SD]] = {}
        for sd in ready:
            groups.setdefault((sd.seq0, sd.seq1), []).append(sd)
        for (s0, s1), sds in sorted(groups.items()):
            n = s1 - s0
            times = reader(sds[0].resource, sds[0].index0, sds[0].index0 + n)
            if times is None or len(times) != n:
                times = [sds[0].received] * n
            row0 = self.n_rows
            self.time.pending.extend(float(t) for t in times)
            self.seq.pending.extend(range(s0, s1))
            for key in self.data:
                self.data[key].pending.extend([MISSING] * n)
                self.ts[key].pending.extend([MISSING] * n)
            self.n_rows += n
            for sd in sds:
                self._add_ref(sd.key, sd.resource, row0, n, sd.index0)

    def _add_ref(self, key: str, resource: str, row0: int, n: int, index0: int) -> None:
        ranges = self.external.setdefault(key, [])
        if ranges:
            last = ranges[-1]
            if last[0] == resource and last[2] == row0 and last[3] + last[2] - last[1] == index0:
                last[2] += n
                self.attrs_dirty = True
                return
        ranges.append([resource, row0, row0 + n, index0])
        self.attrs_dirty = True

    # -- flush snapshot (caller holds the writer's lock) ---------------------------------
    def snapshot(self) -> tuple[list[tuple[ColumnArray, list]], int, dict | None]:
        work = []
        for col in self.columns:
            work.append((col, col.pending))
            col.pending = []
        attrs = None
        if self.attrs_dirty:
            attrs = self.group_attrs()
            self.attrs_dirty = False
        return work, self.n_rows, attrs

    def group_attrs(self) -> dict:
        return {
            "descriptors": list(self.descriptors),
            "labctl": {
                "stream": self.name,
                "data_keys": {k: c.name for k, c in self.data.items()},
                "timestamps": {k: f"timestamps/{c.name}" for k, c in self.ts.items()},
                "external": {k: [list(r) for r in v] for k, v in self.external.items()},
                "descriptor_rows": [list(r) for r in self.descriptor_rows],
            },
        }
