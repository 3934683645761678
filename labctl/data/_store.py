"""Low-level zarr v3 I/O for run stores.

zarr-python rewrites a whole chunk and the array metadata on every ``append``/``resize``
(about 300 writes/s here).  ``ColumnArray`` instead keeps the array's last, incomplete
chunk in memory, encodes whole chunks with the array's own zarr codecs (in this thread
where the codecs allow it, else through zarr's pipeline; raw frame shards without a
copy, see ``_shards``) and writes chunk files and metadata directly, each atomically
(temporary file + rename), so a flush of a dozen arrays costs a few milliseconds.
Arrays are created through zarr, so their metadata is zarr's own; the files written
are plain zarr v3, readable by any zarr implementation.

Uncompressed columns (a single ``bytes`` codec, fixed-size dtype: the writer's scalar
columns) skip even that: a chunk's file is created once, full size, and later flushes
write only the new rows' bytes into it, in place.  Rows the metadata already covers are
never touched, so a crash cannot tear them (on this disk a ``pwrite`` costs ~7 us, an
atomic file replacement ~0.5 ms).

Array metadata: each ``zarr.json`` is written once (atomically) with its row count in
a fixed-width field followed by blanks, which JSON allows; later flushes overwrite
just that field, in place (one ``pwrite`` of 16 bytes instead of a file replacement,
which a flush of 60 columns felt as ~40 ms here).  At the end of a run
``finalize_columns`` writes zarr's exact form again.

Order inside one flush: every chunk first, then every array's metadata (in one tight
loop), so an array's shape never covers rows whose chunk is not on disk.

zarr versions: labctl installs and runs with any zarr 3 release.  The hand-written I/O
above relies on zarr internals (metadata objects, codec pipeline, event loop), so it is
used only on the zarr series it is tested against (``TESTED_ZARR``) and when those
internals import; otherwise every write goes through zarr's public API (``_public``:
same layout and files, same order of chunk and metadata writes, slower),
and this is logged once.  ``FAST_PATH`` is that choice, made here and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import uuid
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import BytesCodec

from labctl.core.errors import DataError
from labctl.data import _public
from labctl.data._shards import encode_raw_shard, raw_inner_rows

try:  # zarr internals, for the fast path only
    from zarr.abc.codec import SupportsSyncCodec
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync as _zarr_sync
except ImportError:  # pragma: no cover - depends on the installed zarr
    SupportsSyncCodec = default_buffer_prototype = _zarr_sync = None  # type: ignore[assignment,misc]

log = logging.getLogger(__name__)

TESTED_ZARR = (3, 1)  # zarr (major, minor) series the hand-written chunk I/O is tested on


def zarr_series(version: str) -> tuple[int, ...]:
    """(major, minor) of a zarr version string (``"3.1.6"`` -> ``(3, 1)``)."""
    m = re.match(r"(\d+)\.(\d+)", version)
    return (int(m.group(1)), int(m.group(2))) if m else ()


def _choose_fast_path() -> bool:
    """Whether the hand-written I/O may be used with the installed zarr (logged if not)."""
    series = zarr_series(zarr.__version__)
    if series == TESTED_ZARR and _zarr_sync is not None:
        return True
    why = "its internals did not import" if series == TESTED_ZARR else "untested series"
    log.warning(
        "zarr %s (%s): run stores are written through zarr's public API, slower; "
        "labctl's own chunk writer is used with zarr %d.%d.x",
        zarr.__version__,
        why,
        *TESTED_ZARR,
    )
    return False


FAST_PATH = _choose_fast_path()

FORMAT_VERSION = 1
MISSING = object()  # marks a row without a value for a column (written as the fill value)

_PROTO = default_buffer_prototype() if default_buffer_prototype is not None else None
_SHAPE_SENTINEL = 7_340_298_316_455_107  # a row count no run reaches, replaced per flush
_SENTINEL_BYTES = b"%d" % _SHAPE_SENTINEL


def _rows_field(n: int) -> bytes:
    """A row count left-aligned in the sentinel's width (blanks after it)."""
    return (b"%d" % n).ljust(len(_SENTINEL_BYTES))


def run_sync(coro: Any) -> Any:
    """Run a zarr coroutine to completion and return its result (zarr's own event loop
    on the fast path, else labctl's)."""
    return _zarr_sync(coro) if FAST_PATH else _public.run(coro)


def stage_file(path: Path, data: Any) -> Path:
    """Write ``data`` (bytes or a list of buffers) to a temporary file next to ``path``."""
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:12]}.partial")
    with open(tmp, "wb") as f:
        for part in data if isinstance(data, list) else [data]:
            f.write(part)
    return tmp


def write_atomic(path: Path, data: Any, mkdir: bool = True) -> None:
    """Replace ``path`` by ``data`` atomically (old or new content, never torn)."""
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(stage_file(path, data), path)


def to_jsonable(obj: Any) -> Any:
    """Deep-convert numpy scalars/arrays and tuples so ``obj`` serializes as JSON."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    return str(obj)


def consolidate(path: Path) -> None:
    """Consolidate a store's metadata into its root ``zarr.json`` (zarr's own format)."""
    with warnings.catch_warnings():
        # zarr warns that consolidated metadata is not yet in the v3 spec, and that
        # journal.jsonl is not a zarr node: both are expected in a run store.
        warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
        warnings.filterwarnings("ignore", message=".*not recognized as a component.*")
        zarr.consolidate_metadata(str(path))


def read_root_attrs(path: Path) -> dict:
    """Root group attributes, read straight from ``zarr.json`` (no zarr machinery)."""
    meta = Path(path) / "zarr.json"
    try:
        with open(meta, "rb") as f:
            doc = json.loads(f.read())
    except FileNotFoundError as exc:
        raise DataError(f"{path}: not a zarr store (no zarr.json)") from exc
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable zarr.json: {exc}") from exc
    if doc.get("zarr_format") != 3 or doc.get("node_type") != "group":
        raise DataError(f"{path}: not a zarr v3 group")
    attrs = doc.get("attributes") or {}
    if "labctl_format" not in attrs or "start" not in attrs:
        raise DataError(f"{path}: a zarr store, but not a labctl run (no labctl_format/start)")
    return attrs


def chunk_rows_for(row_shape: Sequence[int], itemsize: int, target_bytes: int) -> int:
    """Rows per chunk so that one chunk holds about ``target_bytes`` (1..65536)."""
    row_bytes = max(1, int(np.prod(row_shape, dtype=np.int64)) * max(1, itemsize))
    return int(min(65536, max(1, target_bytes // row_bytes)))


class ColumnArray:
    """A zarr v3 array grown along axis 0 by whole-chunk writes.

    The RunEngine side appends raw values to ``pending`` (under the writer's lock);
    the flush side converts them, fills the in-memory tail chunk and writes.
    """

    def __init__(
        self,
        group_path: str,
        name: str,
        row_shape: tuple[int, ...],
        dtype: Any,
        *,
        fill: Any = None,
        chunk_rows: int = 16384,
        dims: tuple[str, ...] = ("time",),
        attrs: dict | None = None,
        start_row: int = 0,
        compressors: Any = "auto",
        inner_rows: int | None = None,
        separator: str = "/",
    ):
        self.group_path = group_path
        self.name = name
        self.path = f"{group_path}/{name}" if group_path else name
        self.row_shape = tuple(int(s) for s in row_shape)
        self.dtype = dtype
        self.fill = fill
        self.chunk_rows = int(chunk_rows)
        self.dims = dims
        self.attrs = attrs or {}
        self.compressors = compressors
        self.inner_rows = inner_rows  # rows per inner chunk when chunks are shards
        self.separator = separator  # chunk keys "c/0/0" (nested) or "c.0.0" (flat)
        self._dirs: set[Path] = set()  # chunk directories known to exist
        self.pending: list = []  # raw values, appended by the RunEngine thread
        self.start_row = start_row  # rows before this column existed (fill)
        # flush-side state (touched only under the writer's I/O lock)
        self.arr: Any = None  # zarr AsyncArray once created/opened
        self.disk: Any = None  # public-API path: the array on an ``_public.DiskStore``
        self._dtype: np.dtype | None = None
        self._md_template: bytes | None = None  # zarr.json with a sentinel row count
        self._md_field: int | None = None
        self.raw_inner: int | None = None
        self.n = start_row  # rows in memory (written or about to be)
        self.n_disk = 0  # rows covered by the metadata on disk
        self.tail: np.ndarray | None = None
        self.tail_start = 0
        self.in_place = False  # raw chunks: partial flushes patch the chunk file
        self.file_chunk: int | None = None  # chunk whose file exists but is not full
        self.n_data = 0  # rows whose bytes are in chunk files

    # -- creation / opening -------------------------------------------------
    async def create(self, group: Any, disk_root: Path | None = None) -> None:
        """Create the zarr array (shape ``start_row`` rows) inside ``group``; on the
        public-API path with ``disk_root``, in the store on disk at ``disk_root``."""
        kw = self._create_kwargs()
        if disk_root is not None and not FAST_PATH:
            arr = await _public.create_array(disk_root, self.path, **kw)
        else:
            arr = await group.create_array(self.name, **kw)
        self._attach(arr, self.start_row)

    def _create_kwargs(self) -> dict[str, Any]:
        outer = (self.chunk_rows, *self.row_shape)
        kw: dict[str, Any] = dict(
            shape=(self.start_row, *self.row_shape),
            dtype=self.dtype,
            chunks=(self.inner_rows, *self.row_shape) if self.inner_rows else outer,
            shards=outer if self.inner_rows else None,
            dimension_names=self.dims,
            chunk_key_encoding={"name": "default", "separator": self.separator},
            attributes=to_jsonable(self.attrs),
            compressors=self.compressors,
            config={"write_empty_chunks": True},
        )
        if self.fill is not None:
            kw["fill_value"] = self.fill
        return kw

    def _attach(self, arr: Any, n: int) -> None:
        self.arr = arr
        self._dtype = np.dtype(arr.dtype)
        self._md_template = None
        self._md_field: int | None = None  # offset of the in-place row count on disk
        self.n = self.n_disk = n
        self.chunk_rows = int((arr.shards or arr.chunks)[0])
        self.fill = arr.metadata.fill_value
        self.tail_start = (n // self.chunk_rows) * self.chunk_rows
        self.tail = self._empty_tail()
        # raw shards are written without zarr's encoder, raw chunks patched in place
        self.raw_inner = raw_inner_rows(arr.metadata) if FAST_PATH else None
        self.in_place = FAST_PATH and _raw_chunks(arr.metadata)
        self.n_data = n
        self.file_chunk = None  # an existing partial chunk is rewritten whole, once

    @classmethod
    def open_existing(cls, arr: Any, start_row: int = 0) -> ColumnArray:
        """Wrap an existing zarr AsyncArray for further appends (used by recovery)."""
        path = arr.path
        group_path, _, name = path.rpartition("/")
        col = cls(
            group_path,
            name,
            tuple(arr.shape[1:]),
            np.dtype(arr.dtype),
            chunk_rows=int((arr.shards or arr.chunks)[0]),
            dims=tuple(arr.metadata.dimension_names or ()),
        )
        col._attach(arr, arr.shape[0])
        col.start_row = start_row
        if col.n > col.tail_start:  # reload the incomplete last chunk
            part = run_sync(arr.getitem(slice(col.tail_start, col.n)))
            col.tail[: col.n - col.tail_start] = part
        return col

    @property
    def size(self) -> int:
        """Elements per row."""
        return int(np.prod(self.row_shape, dtype=np.int64))

    @property
    def native_dtype(self) -> np.dtype:
        return self._dtype

    def _empty_tail(self) -> np.ndarray:
        return np.full((self.chunk_rows, *self.row_shape), self.fill, dtype=self.native_dtype)

    # -- conversion ---------------------------------------------------------
    def to_rows(self, values: list) -> np.ndarray:
        """Convert raw values to an array of rows; unusable values become the fill value."""
        dt = self.native_dtype
        shape = (len(values), *self.row_shape)
        if dt.kind in "OT":  # strings
            return np.array(
                ["" if v is MISSING or v is None else str(v) for v in values], dtype=dt
            ).reshape(shape)
        if any(v is MISSING for v in values):
            values = [self.fill if v is MISSING else v for v in values]
        try:
            out = np.asarray(values)
            if out.shape == shape and out.dtype.kind in "biufc":
                if dt.kind in "iu" and out.dtype.kind in "fc":
                    exact = np.isfinite(out) & (out == np.round(out.real))
                    return np.where(exact, out.real, self.fill).astype(dt)
                return out.astype(dt, copy=False)
        except (ValueError, TypeError, OverflowError):
            pass
        out = np.full(shape, self.fill, dtype=dt)
        for i, v in enumerate(values):  # unusable values stay fill; the journal keeps them
            with contextlib.suppress(ValueError, TypeError, OverflowError):
                a = np.asarray(v)
                if dt.kind in "iu" and a.dtype.kind not in "biu":
                    continue  # never truncate a float into an integer array
                out[i] = a.astype(dt).reshape(self.row_shape)
        return out

    # -- writing ------------------------------------------------------------
    def add_rows(self, rows: np.ndarray) -> list[tuple[int, np.ndarray, int]]:
        """Put ``rows`` after row ``n``; return completed chunks as (index, data, rows)."""
        out: list[tuple[int, np.ndarray, int]] = []
        pos, total = 0, len(rows)
        while pos < total:
            off = self.n - self.tail_start
            k = min(self.chunk_rows - off, total - pos)
            if k == self.chunk_rows:  # a whole chunk straight from the input
                out.append((self.tail_start // self.chunk_rows, rows[pos : pos + k], k))
            else:
                self.tail[off : off + k] = rows[pos : pos + k]
            self.n += k
            pos += k
            if self.n - self.tail_start == self.chunk_rows:
                if k != self.chunk_rows:
                    out.append((self.tail_start // self.chunk_rows, self.tail, self.chunk_rows))
                    self.tail = self._empty_tail()
                self.tail_start += self.chunk_rows
        return out

    def tail_chunk(self) -> list[tuple[int, np.ndarray, int]]:
        """The incomplete last chunk, if it holds rows not yet on disk."""
        if self.n > self.tail_start and self.n > self.n_disk:
            return [(self.tail_start // self.chunk_rows, self.tail, self.n - self.tail_start)]
        return []

    def chunk_file(self, index: int, root: Path) -> Path:
        coords = (index,) + (0,) * len(self.row_shape)
        return root / self.path / self.arr.metadata.encode_chunk_key(coords)

    def _template(self) -> bytes:
        # zarr's own serialisation costs ~0.3 ms an array: done once per column, for a
        # row count that is a sentinel, which each flush then replaces
        if self._md_template is None:
            md = self.arr.metadata.update_shape((_SHAPE_SENTINEL, *self.row_shape))
            self._md_template = md.to_buffer_dict(_PROTO)["zarr.json"].to_bytes()
            if self._md_template.count(_SENTINEL_BYTES) != 1:  # pragma: no cover - paranoia
                raise DataError(f"{self.path}: cannot template array metadata")
        return self._md_template

    def metadata_bytes(self, n: int) -> bytes:
        """The array's ``zarr.json`` with ``n`` rows, byte for byte what zarr writes."""
        return self._template().replace(_SENTINEL_BYTES, b"%d" % n)

    def metadata_padded(self, n: int) -> tuple[bytes, int]:
        """``zarr.json`` with ``n`` rows written in a fixed-width field (JSON allows the
        trailing blanks), and the field's byte offset: later row counts are written
        over the field in place."""
        template = self._template()
        return template.replace(_SENTINEL_BYTES, _rows_field(n)), template.index(_SENTINEL_BYTES)


def _raw_chunks(metadata: Any) -> bool:
    """Whether chunks are the rows' bytes as they are (one ``bytes`` codec, fixed size)."""
    codecs = metadata.codecs
    if len(codecs) != 1 or not isinstance(codecs[0], BytesCodec):
        return False
    dt = metadata.data_type.to_native_dtype()
    if dt.kind not in "biufc":
        return False
    endian = getattr(codecs[0].endian, "value", codecs[0].endian)
    return dt.itemsize == 1 or endian == "little"


def _le_bytes(rows: np.ndarray, dtype: np.dtype) -> memoryview:
    """``rows`` as contiguous little-endian ``dtype`` bytes (what the ``bytes`` codec
    stores)."""
    le = np.ascontiguousarray(rows, dtype=dtype.newbyteorder("<"))
    return memoryview(le).cast("B")


def _in_place_ops(col: ColumnArray, chunks: list, partial: bool, root: Path) -> tuple:
    """(column, rows then in its files, partly filled chunk, file operations) for an
    in-place column; the operations: ("new", path, bytes) for a chunk whose
    file does not exist yet (written whole, atomically), ("patch", path, offset, bytes)
    for rows appended to a chunk file already on disk."""
    ops: list[tuple] = []
    dt = col.native_dtype
    row_bytes = col.size * dt.itemsize
    n_data, file_chunk = col.n_data, col.file_chunk

    def put(index: int, data: np.ndarray, rows: int) -> None:
        nonlocal n_data, file_chunk
        c0 = index * col.chunk_rows
        if file_chunk == index:
            r0 = n_data - c0
            if rows > r0:
                ops.append(
                    (
                        "patch",
                        col.chunk_file(index, root),
                        r0 * row_bytes,
                        _le_bytes(data[r0:rows], dt),
                    )
                )
        else:
            ops.append(("new", col.chunk_file(index, root), _le_bytes(data, dt)))
        n_data = c0 + rows
        file_chunk = index if rows < col.chunk_rows else None

    for index, data, rows in chunks:
        put(index, data, rows)
    if partial and col.n > col.tail_start and col.n > n_data:
        put(col.tail_start // col.chunk_rows, col.tail, col.n - col.tail_start)
    return col, n_data, file_chunk, ops


def _patch(path: Path, offset: int, data: Any) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        view = memoryview(data)
        while len(view):
            done = os.pwrite(fd, view, offset)
            view, offset = view[done:], offset + done
    finally:
        os.close(fd)


async def _encode_all(jobs: list[tuple[ColumnArray, int, np.ndarray, int]]) -> list:
    async def one(col: ColumnArray, index: int, data: np.ndarray) -> Any:
        coords = (index,) + (0,) * len(col.row_shape)
        spec = col.arr.metadata.get_chunk_spec(coords, col.arr.config, _PROTO)
        nd = _PROTO.nd_buffer.from_ndarray_like(data)
        (buf,) = await col.arr.codec_pipeline.encode([(nd, spec)])
        return buf.as_buffer_like()

    return await asyncio.gather(*(one(c, i, d) for c, i, d, _ in jobs))


def _sync_codecs(col: ColumnArray) -> tuple | None:
    """The array's codecs if every one can encode without zarr's event loop."""
    if SupportsSyncCodec is None:
        return None
    codecs = tuple(col.arr.metadata.codecs)
    return codecs if all(isinstance(c, SupportsSyncCodec) for c in codecs) else None


def _encode_sync(col: ColumnArray, index: int, data: np.ndarray, codecs: tuple) -> Any:
    coords = (index,) + (0,) * len(col.row_shape)
    spec = col.arr.metadata.get_chunk_spec(coords, col.arr.config, _PROTO)
    buf: Any = _PROTO.nd_buffer.from_ndarray_like(data)
    for codec in codecs:
        buf = codec._encode_sync(buf, spec)
        spec = codec.resolve_metadata(spec)
    return buf.as_buffer_like()


def _encode(jobs: list[tuple[ColumnArray, int, np.ndarray, int]]) -> list:
    """Encoded bytes of every chunk job: raw shards directly, codecs that encode
    synchronously in this thread, the rest through zarr's pipeline (one event-loop hop)."""
    out: list[Any] = [None] * len(jobs)
    slow = []
    for k, (col, index, data, rows) in enumerate(jobs):
        if col.raw_inner is not None:
            out[k] = encode_raw_shard(data, rows, col.raw_inner)
        elif (codecs := _sync_codecs(col)) is not None:
            out[k] = _encode_sync(col, index, data, codecs)
        else:
            slow.append(k)
    if slow:
        for k, buf in zip(slow, run_sync(_encode_all([jobs[k] for k in slow])), strict=True):
            out[k] = buf
    return out


async def create_columns(
    group: Any, cols: Iterable[ColumnArray], disk_root: Path | None = None
) -> None:
    """Create ``cols`` in ``group``; with ``disk_root``, ``group`` lives in memory and
    each array's ``zarr.json`` is written under ``disk_root`` (atomically)."""
    cols = list(cols)
    await asyncio.gather(*(c.create(group, disk_root) for c in cols))
    if disk_root is not None and FAST_PATH:
        for c in cols:
            data, c._md_field = c.metadata_padded(c.n_disk)
            write_atomic(disk_root / c.path / "zarr.json", data)


# the row count of a padded zarr.json: the first number of "shape", blanks after it
_PADDED = re.compile(rb'("shape": \[\s*\d+) +')


def unpad_metadata(root: Path) -> int:
    """Rewrite every array ``zarr.json`` under ``root`` still holding a padded row count
    (a run that died mid-way) in zarr's exact form; returns how many were rewritten.

    The padded form is zarr's own text with blanks after the row count: dropping them
    restores it byte for byte, with any zarr version."""
    done = 0
    for meta in Path(root).rglob("zarr.json"):
        data = meta.read_bytes()
        if not _PADDED.search(data) or json.loads(data).get("node_type") != "array":
            continue
        write_atomic(meta, _PADDED.sub(rb"\1", data, count=1), mkdir=False)
        done += 1
    return done


def finalize_columns(root: Path, cols: Iterable[ColumnArray]) -> None:
    """Give each column's ``zarr.json`` zarr's exact form again (no padded row count);
    for the end of a run, before metadata is consolidated."""
    for c in cols:
        if c.arr is not None and c._md_field is not None:
            write_atomic(root / c.path / "zarr.json", c.metadata_bytes(c.n_disk), mkdir=False)
            c._md_field = None


def _new_chunks(col: ColumnArray, rows: np.ndarray | None, pad: int) -> list:
    """Put ``rows`` (then fill up to ``pad`` rows) after the column's rows; the chunks
    completed, as (index, data, rows)."""
    chunks: list[tuple[int, np.ndarray, int]] = []
    if rows is not None and len(rows):
        chunks += col.add_rows(rows)
    if pad > col.n:
        chunks += col.add_rows(
            np.full((pad - col.n, *col.row_shape), col.fill, dtype=col.native_dtype)
        )
    return chunks


def write_columns(
    root: Path, work: list[tuple[ColumnArray, np.ndarray | None, int]], partial: bool = True
) -> None:
    """Append rows to columns and commit: chunks first, then all metadata.

    ``work`` holds (column, rows or None, pad to this many rows).  With ``partial``
    False the incomplete last chunk stays in memory and the shape stops before it.
    """
    if not FAST_PATH:
        _write_public(root, work, partial)
        return
    jobs: list[tuple[ColumnArray, int, np.ndarray, int]] = []
    in_place: list[tuple] = []
    commit: list[tuple[ColumnArray, int]] = []
    for col, rows, pad in work:
        chunks = _new_chunks(col, rows, pad)
        if col.in_place:
            in_place.append(_in_place_ops(col, chunks, partial, root))
        else:
            if partial:
                chunks += col.tail_chunk()
            jobs += [(col, i, d, r) for i, d, r in chunks]
        n = col.n if partial else col.tail_start
        if n != col.n_disk:
            commit.append((col, n))
    if not jobs and not commit and not any(ops for *_, ops in in_place):
        return
    _apply_in_place(in_place)
    _write_chunks(root, jobs)
    _commit_shapes(root, commit)


def _write_public(
    root: Path, work: list[tuple[ColumnArray, np.ndarray | None, int]], partial: bool
) -> None:
    """``write_columns`` through zarr's public API (``_public.write``)."""
    items = []
    for col, rows, pad in work:
        chunks = _new_chunks(col, rows, pad)
        if partial:
            chunks += col.tail_chunk()
        n = col.n if partial else col.tail_start
        if chunks or n != col.n_disk:
            items.append((col, chunks, n))
    if items:
        run_sync(_public.write(root, items))


def _new_file(col: ColumnArray, path: Path, data: Any) -> None:
    """Write a chunk file atomically, making its directory the first time."""
    if path.parent not in col._dirs:
        path.parent.mkdir(parents=True, exist_ok=True)
        col._dirs.add(path.parent)
    write_atomic(path, data, mkdir=False)


def _apply_in_place(in_place: list[tuple]) -> None:
    """Carry out ``_in_place_ops`` results: new chunk files, then patches."""
    for col, _, _, ops in in_place:
        for op in ops:
            if op[0] == "patch":
                _patch(op[1], op[2], op[3])
            else:
                _new_file(col, op[1], op[2])
    for col, n_data, file_chunk, _ in in_place:
        col.n_data, col.file_chunk = n_data, file_chunk


def _write_chunks(root: Path, jobs: list[tuple[ColumnArray, int, np.ndarray, int]]) -> None:
    """Encode and write whole chunk files (threads measured no faster on this disk)."""
    for (col, index, _, _), buf in zip(jobs, _encode(jobs), strict=True):
        _new_file(col, col.chunk_file(index, root), buf)


def _commit_shapes(root: Path, commit: list[tuple[ColumnArray, int]]) -> None:
    """Give each column its new row count: a column's first commit writes the padded
    ``zarr.json`` (atomically), later ones overwrite its row-count field in place."""
    staged = []
    for col, n in commit:
        if col._md_field is None:
            data, field = col.metadata_padded(n)
            staged.append((stage_file(root / col.path / "zarr.json", data), col, field))
    for tmp, col, _ in staged:
        os.replace(tmp, root / col.path / "zarr.json")
    fresh = {id(col): field for _, col, field in staged}
    for col, n in commit:  # tight loop: shapes of a stream change together
        if id(col) in fresh:
            col._md_field = fresh[id(col)]
        else:
            _patch(root / col.path / "zarr.json", col._md_field, _rows_field(n))
        col.n_disk = n


def fill_for(dtype: np.dtype) -> Any:
    """Fill value for rows without data: NaN for floats, 0/False/'' otherwise."""
    if dtype.kind in "fc":
        return math.nan
    if dtype.kind == "b":
        return False
    if dtype.kind in "OTU":
        return ""
    return 0
