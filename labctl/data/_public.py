"""Run-store writes through zarr's public API only (the fallback of ``_store``).

``_store`` writes chunk files and array metadata itself on the zarr series it is tested
against.  With any other zarr 3 release, or when zarr's internals do not import, the
same columns are written here instead: whole chunks with ``AsyncArray.setitem`` on a
``LocalStore`` (same layout, same zarr v3 files, slower).

Crash safety as in ``_store``: every chunk before any metadata.  ``DiskStore`` holds
back the ``zarr.json`` that ``resize`` writes, so an array can be grown, its chunks
written, and only then its shape committed (each file replaced atomically: temporary
file + rename).  A crash leaves an array's shape covering only rows whose chunks are on
disk; the journal has the rest.

Coroutines run on a private event loop thread (``run``), not on zarr's internal one.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from pathlib import Path
from typing import Any

import zarr.api.asynchronous as zasync
from zarr.storage import LocalStore

_META = "zarr.json"
_loop: asyncio.AbstractEventLoop | None = None
_loop_thread: threading.Thread | None = None
_loop_lock = threading.Lock()


def _event_loop() -> asyncio.AbstractEventLoop:
    global _loop, _loop_thread
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            _loop_thread = threading.Thread(
                target=_loop.run_forever, name="labctl-zarr-io", daemon=True
            )
            _loop_thread.start()
        return _loop


def run(coro: Any) -> Any:
    """Run a zarr coroutine to completion on labctl's I/O loop and return its result."""
    loop = _event_loop()
    if threading.current_thread() is _loop_thread:
        coro.close()
        raise RuntimeError("run() called from labctl's zarr I/O loop itself")
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


def _replace(path: Path, data: Any) -> None:
    """Replace ``path`` by ``data`` atomically (old or new content, never torn)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:12]}.partial")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class DiskStore(LocalStore):
    """A ``LocalStore`` whose writes are atomic and whose ``zarr.json`` writes are held
    in memory until ``commit`` (reads see the held version)."""

    def __init__(self, root: Path | str, *, read_only: bool = False):
        super().__init__(root, read_only=read_only)
        self.held: dict[str, bytes] = {}

    async def set(self, key: str, value: Any) -> None:
        if key.rsplit("/", 1)[-1] == _META:
            self.held[key] = value.to_bytes()
        else:
            _replace(Path(self.root) / key, value.as_buffer_like())

    async def get(self, key: str, prototype: Any = None, byte_range: Any = None) -> Any:
        if key in self.held and prototype is not None and byte_range is None:
            return prototype.buffer.from_bytes(self.held[key])
        return await super().get(key, prototype, byte_range)

    def commit(self) -> None:
        """Write the held metadata files (atomically)."""
        for key, data in self.held.items():
            _replace(Path(self.root) / key, data)
        self.held.clear()


async def create_array(root: Path, path: str, **kw: Any) -> Any:
    """Create the array ``path`` in the store at ``root``; its metadata is on disk on return."""
    store = DiskStore(root)
    arr = await zasync.create_array(store=store, name=path, **kw)
    store.commit()
    return arr


async def _disk_array(col: Any, root: Path) -> Any:
    """The column's array on a ``DiskStore`` (opened once)."""
    if col.disk is None:
        if isinstance(col.arr.store, DiskStore):
            col.disk = col.arr
        else:
            col.disk = await zasync.open_array(store=DiskStore(root), path=col.path, zarr_format=3)
    return col.disk


async def _grow(arr: Any, rows: int) -> None:
    if arr.shape[0] != rows:
        await arr.resize((rows, *arr.shape[1:]), delete_outside_chunks=False)


async def write(root: Path, items: list[tuple[Any, list[tuple[int, Any, int]], int]]) -> None:
    """Write columns' chunks, then commit their shapes.

    ``items``: (column, chunks as (index, rows' block, valid rows), rows then on disk).
    """
    for col, chunks, n in items:
        arr = await _disk_array(col, root)
        top = max([n] + [i * col.chunk_rows + r for i, _, r in chunks])
        await _grow(arr, top)  # held: the shape on disk does not change yet
        for index, data, rows in chunks:
            c0 = index * col.chunk_rows
            await arr.setitem(slice(c0, c0 + rows), data[:rows])
    for col, _, n in items:  # then every shape
        await _grow(col.disk, n)
        col.disk.store.commit()
        col.n_disk = n
