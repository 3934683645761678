"""``RunWriter``: a bluesky callback that streams every run to one zarr v3 store.

Layout (``labctl_format`` 1)::

    <data_dir>/<YYYY-MM-DD>/<scan_id>_<plan>_<uid8>.zarr
      attrs: labctl_format, start, stop (at the end), streams {name: group},
             stream_resources {uid: StreamResource document}
      <stream>/      attrs: descriptors, labctl {data_keys, timestamps, external, ...}
        time, seq_num                  (N,)        dims ("time",)
        <data_key>                     (N, *shape) dims ("time", "<key>_dim_1", ...)
        timestamps/<data_key>          (N,)
      assets/<key>                     frames written by detectors (``FrameWriter``)
      journal.jsonl                    every document, arrays by reference

Each array's shape is the number of rows written: after every flush (at least once
per ``flush_interval_s`` of wall time, from a background thread) plain
``xarray.open_zarr(store, group=stream, consolidated=False)`` shows exactly the rows on
disk.  Metadata is consolidated once, when the run stops.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import event_model
import numpy as np
import zarr
import zarr.api.asynchronous as zasync
from zarr.codecs import BloscCodec
from zarr.storage import MemoryStore

from labctl.core.errors import DataError
from labctl.data._store import (
    FORMAT_VERSION,
    consolidate,
    create_columns,
    finalize_columns,
    run_sync,
    to_jsonable,
    write_atomic,
    write_columns,
)
from labctl.data._streams import StreamBuffer, safe_name
from labctl.data.journal import JOURNAL_NAME, Journal

__all__ = ["RunWriter", "run_path", "ensure_data_dir"]

log = logging.getLogger(__name__)
ASSETS_GROUP = "assets"
_READ_ERRORS = (OSError, ValueError, KeyError, IndexError, TypeError)
DEFAULT_COMPRESSORS = (BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),)


def _safe(text: object, default: str) -> str:
    """``text`` reduced to letters, digits, ``_`` and ``-`` (never a path or ``..``)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(text)).strip("-") or default


def run_path(data_dir: str | Path, start: dict) -> Path:
    """``<data_dir>/<YYYY-MM-DD>/<scan_id>_<plan>_<uid8>.zarr`` for a start document.

    Built only from sanitized fields (an integer scan id, the plan name and uid reduced
    to ``[A-Za-z0-9_-]``, a finite time), and checked to lie under ``data_dir``:
    a start document cannot make the writer write anywhere else (``DataError``)."""
    t = start.get("time")
    t = float(t) if isinstance(t, int | float) and math.isfinite(t) else time.time()
    try:
        day = datetime.fromtimestamp(t).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        day = datetime.fromtimestamp(time.time()).strftime("%Y-%m-%d")
    scan = start.get("scan_id", 0)
    scan = scan if isinstance(scan, int) and not isinstance(scan, bool) else 0
    plan = _safe(start.get("plan_name") or "run", "run")
    name = f"{scan}_{plan}_{_safe(start.get('uid', ''), 'run')[:8]}"
    root = Path(data_dir)
    path = root / day / f"{name}.zarr"
    if not path.resolve().is_relative_to(root.resolve()):  # e.g. a day directory symlink
        raise DataError(f"run store {path} would lie outside the data directory {root}")
    return path


def ensure_data_dir(data_dir: str | Path) -> Path:
    """Create ``data_dir`` if needed; ``DataError`` if it cannot hold run stores (a file,
    no permission), said before anything is energized."""
    path = Path(data_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise DataError(f"data_dir {str(path)!r} is a file, not a directory") from None
    except OSError as exc:
        raise DataError(f"data_dir {str(path)!r} cannot be created: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise DataError(f"data_dir {str(path)!r} is not writable")
    return path


class _Run:
    """One open run: its store, journal and streams."""

    def __init__(
        self,
        path: Path,
        start: dict,
        compressors: Any,
        *,
        scalar_compressors: Any = None,
        create: bool = True,
    ):
        self.path = path
        self.start = start
        self.compressors = compressors
        self.scalar_compressors = scalar_compressors
        self.streams: dict[str, StreamBuffer] = {}
        self.by_desc: dict[str, StreamBuffer] = {}
        self.resources: dict[str, dict] = {}
        self.group_names: set[str] = {ASSETS_GROUP, JOURNAL_NAME, "zarr.json"}
        self.root_dirty = False
        self.groups: dict[str, Any] = {}
        self._ts_cache: dict[str, Any] = {}
        # Group and array metadata is made by zarr in an in-memory twin of the store
        # and its zarr.json files copied to disk (``mirror``): zarr's own file store
        # hands every file to a worker thread (~70 ms for a dozen arrays here).
        self.twin: dict[str, Any] | None = None
        self._mirrored: dict[str, bytes] = {}
        if not create:  # recovery: an existing store, no journal to append to
            self.root = run_sync(zasync.open_group(store=str(path), mode="r+"))
            self.journal: Journal | None = None
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        attrs = {
            "labctl_format": FORMAT_VERSION,
            "start": to_jsonable(start),
            "streams": {},
            "stream_resources": {},
        }
        try:
            path.mkdir()
        except FileExistsError as exc:
            raise DataError(f"{path}: a run store is already there") from exc
        self.twin = {}
        self.root = run_sync(
            zasync.open_group(
                store=MemoryStore(self.twin), mode="w", zarr_format=3, attributes=attrs
            )
        )
        self.mirror()
        self.journal = Journal(path / JOURNAL_NAME)

    @property
    def disk_root(self) -> Path | None:
        """Where new arrays' metadata goes (None: zarr writes it, recovery)."""
        return self.path if self.twin is not None else None

    def mirror(self) -> None:
        """Copy group metadata the twin changed to disk (arrays write their own)."""
        if self.twin is None:
            return
        for key, buf in list(self.twin.items()):
            if not key.endswith("zarr.json"):
                continue
            data = buf.to_bytes()
            if self._mirrored.get(key) == data:
                continue
            if b'"node_type": "group"' in data or b'"node_type":"group"' in data:
                write_atomic(self.path / key, data)
            self._mirrored[key] = data

    def stream_for(self, doc: dict) -> StreamBuffer:
        name = doc.get("name", "primary")
        stream = self.streams.get(name)
        if stream is None:
            stream = StreamBuffer(
                name,
                safe_name(name, self.group_names),
                self.compressors,
                self.scalar_compressors,
            )
            self.streams[name] = stream
            self.root_dirty = True
        return stream

    def frame_times(self, resource_uid: str, i0: int, i1: int) -> np.ndarray | None:
        """Frame timestamps a ``FrameWriter`` recorded for a resource (None if unknown)."""
        res = self.resources.get(resource_uid, {})
        ts_path = res.get("parameters", {}).get("timestamps")
        if not ts_path or not str(res.get("uri", "")).endswith(self.path.name):
            return None
        try:
            arr = self._ts_cache.get(ts_path)
            if arr is None:
                arr = zarr.open_array(str(self.path), path=ts_path, mode="r")
                self._ts_cache[ts_path] = arr
            if arr.shape[0] < i1:
                arr = self._ts_cache[ts_path] = zarr.open_array(
                    str(self.path), path=ts_path, mode="r"
                )
            return np.asarray(arr[i0:i1], dtype=float)
        except _READ_ERRORS:
            return None

    def root_attrs(self) -> dict:
        return {
            "streams": {s.name: s.group for s in self.streams.values()},
            "stream_resources": to_jsonable(self.resources),
        }

    # -- I/O side (caller holds the writer's I/O lock) ------------------------------
    def write(self, snaps: list, root_attrs: dict | None) -> None:
        async def prepare() -> None:
            for stream, work, _, _ in snaps:
                if stream.group not in self.groups:
                    g = await self.root.require_group(stream.group)
                    self.groups[stream.group] = g
                    self.groups[f"{stream.group}/timestamps"] = await g.require_group("timestamps")
                new = [c for c, _ in work if c.arr is None]
                for gpath in {c.group_path for c in new}:
                    await create_columns(
                        self.groups[gpath],
                        [c for c in new if c.group_path == gpath],
                        self.disk_root,
                    )

        if any(
            s.group not in self.groups or any(c.arr is None for c, _ in w) for s, w, _, _ in snaps
        ):
            run_sync(prepare())
            self.mirror()
        work = []
        for _, items, n_rows, _ in snaps:
            work += [(col, col.to_rows(vals) if vals else None, n_rows) for col, vals in items]
        write_columns(self.path, work)

        async def attrs() -> None:
            for stream, _, _, gattrs in snaps:
                if gattrs is not None:
                    await self.groups[stream.group].update_attributes(to_jsonable(gattrs))
            if root_attrs is not None:
                await self.root.update_attributes(root_attrs)

        if root_attrs is not None or any(a is not None for _, _, _, a in snaps):
            run_sync(attrs())
            self.mirror()


class RunWriter:
    """Bluesky callback writing each run to ``<data_dir>/<date>/<scan>_<plan>_<uid8>.zarr``.

    ``RE.subscribe(RunWriter(data_dir))``.  ``flush_interval_s``: longest time (wall
    seconds) data waits in memory.  While documents flow, the RunEngine's thread flushes
    on the first document after 80 % of the interval; ``background`` adds a thread that
    flushes whatever waited the whole interval (a quiet run).  A flush thread running
    beside a busy RunEngine cost ~10 % of its speed here: the two threads hand the GIL
    back and forth at every system call of the flush and at every turn of the
    RunEngine's event loop.  ``on_run_start(path)`` is called once the store exists;
    ``compressors``: zarr codecs for array-valued keys (default: blosc lz4 with byte
    shuffle, ~4x faster than zarr's default zstd here and as compact on readings;
    "auto" for zarr's default, None for raw); ``scalar_compressors``: the same for
    one-value-a-row columns (time, seq_num, scalar readings, timestamps), raw by
    default so that each flush writes only the new rows' bytes into the chunk file.
    """

    def __init__(
        self,
        data_dir: str | Path,
        *,
        flush_interval_s: float = 1.0,
        background: bool = True,
        on_run_start: Callable[[Path], Any] | None = None,
        compressors: Any = DEFAULT_COMPRESSORS,
        scalar_compressors: Any = None,
    ):
        self.data_dir = Path(data_dir)
        self.flush_interval_s = float(flush_interval_s)
        self.background = background
        self.on_run_start = on_run_start
        self.compressors = compressors
        self.scalar_compressors = scalar_compressors
        self.last_path: Path | None = None
        self._runs: dict[str, _Run] = {}
        self._by_desc: dict[str, _Run] = {}
        self._by_resource: dict[str, _Run] = {}
        self._lock = threading.Lock()  # buffers (RunEngine thread vs flusher)
        self._io = threading.RLock()  # zarr I/O
        self._error: BaseException | None = None
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_flush = time.monotonic()
        self._inline_after_s = 0.8 * self.flush_interval_s

    @property
    def current_path(self) -> Path | None:
        """Store of the most recently started run still open (None between runs)."""
        runs = list(self._runs.values())
        return runs[-1].path if runs else None

    # -- document dispatch ---------------------------------------------------------------
    def __call__(self, name: str, doc: dict) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise DataError(f"run writer failed while flushing: {err}") from err
        handler = getattr(self, f"_on_{name}", None)
        if handler is not None:
            handler(doc)
        if self._runs and time.monotonic() - self._last_flush >= self._inline_after_s:
            self.flush()

    def _on_start(self, doc: dict) -> None:
        path = run_path(self.data_dir, doc)
        i = 2
        while path.exists():
            path = path.with_name(f"{path.stem}-{i}.zarr")
            i += 1
        run = _Run(path, doc, self.compressors, scalar_compressors=self.scalar_compressors)
        run.journal.write("start", doc)
        with self._lock:
            self._runs[doc["uid"]] = run
        self.last_path = path
        if self.background and (self._thread is None or not self._thread.is_alive()):
            self._wake.clear()
            self._thread = threading.Thread(
                target=self._loop, name="labctl-run-writer", daemon=True
            )
            self._thread.start()
        if self.on_run_start is not None:
            self.on_run_start(path)

    def _run_of(self, uid: str | None, table: dict, what: str) -> _Run:
        run = table.get(uid) if uid is not None else None
        if run is None:
            if uid is None and self._runs:
                return list(self._runs.values())[-1]
            raise DataError(f"{what} {uid!r} does not belong to an open run")
        return run

    def _on_descriptor(self, doc: dict) -> None:
        run = self._run_of(doc.get("run_start"), self._runs, "descriptor of run")
        with self._lock:
            stream = run.stream_for(doc)
            stream.add_descriptor(doc)
            run.by_desc[doc["uid"]] = stream
            self._by_desc[doc["uid"]] = run
            run.journal.write("descriptor", doc)

    def _on_event(self, doc: dict) -> None:
        run = self._run_of(doc["descriptor"], self._by_desc, "descriptor")
        stream = run.by_desc[doc["descriptor"]]
        with self._lock:
            jdata = stream.add_event(doc, time.time(), run.frame_times)
            run.journal.write("event", doc if jdata is None else {**doc, "data": jdata})

    def _on_event_page(self, doc: dict) -> None:
        run = self._run_of(doc["descriptor"], self._by_desc, "descriptor")
        stream = run.by_desc[doc["descriptor"]]
        now = time.time()
        with self._lock:
            jdatas = [
                stream.add_event(ev, now, run.frame_times)
                for ev in event_model.unpack_event_page(doc)
            ]
            if any(j is not None for j in jdatas):
                data = {
                    k: [j[k] if j is not None else doc["data"][k][i] for i, j in enumerate(jdatas)]
                    for k in doc["data"]
                }
                doc = {**doc, "data": data}
            run.journal.write("event_page", doc)

    def _on_stream_resource(self, doc: dict) -> None:
        run = self._run_of(doc.get("run_start"), self._runs, "stream resource of run")
        with self._lock:
            run.resources[doc["uid"]] = doc
            run.root_dirty = True
            self._by_resource[doc["uid"]] = run
            run.journal.write("stream_resource", doc)

    def _on_stream_datum(self, doc: dict) -> None:
        run = self._run_of(doc["descriptor"], self._by_desc, "descriptor")
        resource = run.resources.get(doc["stream_resource"])
        if resource is None:
            raise DataError(f"stream datum {doc['uid']}: unknown stream resource")
        with self._lock:
            run.by_desc[doc["descriptor"]].add_stream_datum(
                doc, resource, time.time(), run.frame_times
            )
            run.journal.write("stream_datum", doc)

    def _on_resource(self, doc: dict) -> None:
        run = self._run_of(doc.get("run_start"), self._runs, "resource of run")
        self._by_resource[doc["uid"]] = run
        run.journal.write("resource", doc)

    def _on_datum(self, doc: dict) -> None:
        self._run_of(doc["resource"], self._by_resource, "resource").journal.write("datum", doc)

    def _on_datum_page(self, doc: dict) -> None:
        run = self._run_of(doc["resource"], self._by_resource, "resource")
        run.journal.write("datum_page", doc)

    def _on_stop(self, doc: dict) -> None:
        run = self._run_of(doc.get("run_start"), self._runs, "stop of run")
        with self._io:
            with self._lock:
                for stream in run.streams.values():
                    stream.materialize_all(run.frame_times)
                run.journal.write("stop", doc)
                snaps, root_attrs = self._snapshot(run)
                del self._runs[doc["run_start"]]
                for uid in run.by_desc:
                    self._by_desc.pop(uid, None)
            try:
                run.write(snaps, root_attrs)
                self._finish(run, doc)
            finally:
                run.journal.close()
        if not self._runs:
            self._stop_thread()

    def _finish(self, run: _Run, stop: dict) -> None:
        lengths = {s.name: s.n_rows for s in run.streams.values()}

        async def attrs() -> None:
            for stream in run.streams.values():
                g = run.groups.get(stream.group)
                if g is not None:
                    await g.update_attributes(
                        {"labctl": {**stream.group_attrs()["labctl"], "length": stream.n_rows}}
                    )
            await run.root.update_attributes(
                {**run.root_attrs(), "stop": to_jsonable(stop), "lengths": lengths}
            )

        run_sync(attrs())
        run.mirror()
        finalize_columns(run.path, [c for s in run.streams.values() for c in s.columns])
        consolidate(run.path)

    # -- flushing ---------------------------------------------------------------------------
    def _snapshot(self, run: _Run) -> tuple[list, dict | None]:
        snaps = [(s, *s.snapshot()) for s in run.streams.values()]
        root_attrs = None
        if run.root_dirty:
            root_attrs, run.root_dirty = run.root_attrs(), False
        return snaps, root_attrs

    def flush(self) -> None:
        """Write everything buffered so far to the open runs' stores."""
        with self._io:
            with self._lock:
                jobs = [(run, *self._snapshot(run)) for run in self._runs.values()]
            for run, snaps, root_attrs in jobs:
                run.write(snaps, root_attrs)
            self._last_flush = time.monotonic()

    def _loop(self) -> None:
        """Flush what has waited a whole interval (the RunEngine's thread flushes sooner
        while documents arrive, so in a busy run this thread only sleeps)."""
        while True:
            due = self._last_flush + self.flush_interval_s
            if self._wake.wait(max(0.0, due - time.monotonic())):
                return
            if time.monotonic() - self._last_flush < self.flush_interval_s:
                continue
            try:
                self.flush()
            except Exception as exc:  # reported to the RunEngine on the next document
                log.exception("run writer flush failed")
                self._error = exc
                return

    def _stop_thread(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._wake.set()
            if thread is not threading.current_thread():
                thread.join()

    def close(self, flush: bool = True) -> None:
        """Stop the flush thread and close journals of runs left open (recoverable).

        ``flush=False`` drops what is still buffered (the journal has it).
        """
        self._stop_thread()
        with self._io:
            if flush:
                self.flush()
            for run in self._runs.values():
                run.journal.close()
            self._runs.clear()
