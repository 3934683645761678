"""Detector frames written straight into a run's store, referenced by StreamResource.

A camera's own writer thread appends frames with a ``FrameWriter`` into
``<run store>/assets/<key>`` (shape ``(n_frames, *frame_shape)``, one inner chunk per
frame, ``frames_per_shard`` frames per shard file) and their timestamps into
``<run store>/assets/timestamps/<key>``.  The run's documents only reference them:
a StreamResource (mimetype ``application/x-zarr``, ``uri`` the store, ``parameters``
``{"array": ..., "timestamps": ...}``) and StreamDatum documents giving which frame
indices belong to which events.  ``labctl.data.read_run`` presents the frames as if
they were in the events.

Mechanism for a detector implementing bluesky's ``WritesStreamAssets``
(``describe``/``describe_collect`` -> ``FrameWriter.data_key()``, ``collect_asset_docs``
-> ``FrameWriter.collect_asset_docs``, ``get_index`` -> ``FrameWriter.length``): the
bench gives the detector a path provider, ``RunWriter.current_path``, and the detector
opens its ``FrameWriter`` on the first frame of each run (staging happens before the
run opens, so the store does not exist yet at ``stage()``).

Only frames made visible by a flush (``length``) are referenced; ``flush()`` happens
on every completed chunk/shard, when ``flush_interval_s`` has passed at an append, and
at ``flush()``/``close()``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import event_model
import numpy as np
import zarr.api.asynchronous as zasync
from event_model.documents.stream_datum import StreamRange

from labctl.core.errors import DataError
from labctl.data._store import (
    ColumnArray,
    chunk_rows_for,
    finalize_columns,
    run_sync,
    write_columns,
)
from labctl.data._streams import safe_name

__all__ = ["FrameWriter", "frame_stream_resource", "ASSETS_GROUP", "ZARR_MIMETYPE"]

ASSETS_GROUP = "assets"
ZARR_MIMETYPE = "application/x-zarr"
SHARD_BYTES = 16 * 1024 * 1024


def store_uri(store: str | Path) -> str:
    """``file://localhost/<absolute path>`` of a store (bluesky's URI convention)."""
    return "file://localhost" + Path(store).resolve().as_posix()


def frame_stream_resource(
    store: str | Path,
    array: str,
    data_key: str,
    *,
    timestamps: str | None = None,
    uid: str | None = None,
    start: dict | None = None,
    **parameters: Any,
) -> event_model.ComposeStreamResourceBundle:
    """StreamResource (and its StreamDatum composer) for frames at ``store``/``array``."""
    params = {"array": array, **parameters}
    if timestamps:
        params["timestamps"] = timestamps
    return event_model.compose_stream_resource(
        mimetype=ZARR_MIMETYPE,
        uri=store_uri(store),
        data_key=data_key,
        parameters=params,
        uid=uid,
        start=start,
    )


class FrameWriter:
    """Append frames of one detector key to a run store (thread-safe).

    ``store``: the run's store (``RunWriter.current_path``); ``key``: the data key;
    ``frame_shape``/``dtype``: one frame; ``frames_per_shard``: None for one chunk per
    frame, else shard files of that many frames; ``compressors``: None (raw, default),
    "auto" (zarr's default, zstd) or zarr codecs; ``flush_interval_s``: longest time
    (wall seconds) appended frames stay invisible while frames keep arriving.
    """

    def __init__(
        self,
        store: str | Path,
        key: str,
        frame_shape: Sequence[int],
        dtype: Any,
        *,
        group: str = ASSETS_GROUP,
        frames_per_shard: int | None = None,
        compressors: Any = None,
        flush_interval_s: float = 1.0,
    ):
        self.store = Path(store)
        self.key = key
        self.frame_shape = tuple(int(s) for s in frame_shape)
        self.dtype = np.dtype(dtype)
        self.flush_interval_s = float(flush_interval_s)
        self._lock = threading.Lock()
        self._emitted = 0
        self._bundle: Any = None
        self._last = time.monotonic()
        self.closed = False
        if not (self.store / "zarr.json").exists():
            raise DataError(f"{self.store}: no run store to write frames into")
        if frames_per_shard is None:
            frame_bytes = max(1, int(np.prod(self.frame_shape)) * self.dtype.itemsize)
            frames_per_shard = max(1, SHARD_BYTES // frame_bytes)
        shard = int(frames_per_shard) if frames_per_shard > 1 else None

        async def setup() -> tuple[ColumnArray, ColumnArray]:
            root = await zasync.open_group(store=str(self.store), mode="r+")
            g = await root.require_group(group)
            tg = await g.require_group("timestamps")
            taken = {name async for name in g.keys()}  # noqa: SIM118
            name = safe_name(key, taken)
            fdims = (f"{name}_frame",)
            frames = ColumnArray(
                group,
                name,
                self.frame_shape,
                self.dtype,
                fill=0,
                chunk_rows=shard or 1,
                inner_rows=1 if shard else None,
                compressors=compressors,
                separator=".",
                dims=fdims + tuple(f"{name}_dim_{i + 1}" for i in range(len(self.frame_shape))),
                attrs={"data_key": key, "long_name": f"frames of {key}"},
            )
            stamps = ColumnArray(
                f"{group}/timestamps",
                name,
                (),
                "float64",
                fill=float("nan"),
                dims=fdims,
                chunk_rows=chunk_rows_for((), 8, 8 * 1024),
                attrs={"units": "s", "long_name": f"frame timestamps of {key}", "data_key": key},
            )
            await frames.create(g)
            await stamps.create(tg)
            return frames, stamps

        self._frames, self._stamps = run_sync(setup())
        self.array_path = self._frames.path
        self.timestamps_path = self._stamps.path

    @property
    def length(self) -> int:
        """Frames visible in the store (safe to reference in documents)."""
        return self._frames.n_disk

    @property
    def appended(self) -> int:
        """Frames handed to ``append`` so far."""
        return self._frames.n

    def append(self, frames: np.ndarray, timestamps: Sequence[float] | None = None) -> int:
        """Append one frame ``frame_shape`` or a block ``(n, *frame_shape)``; returns ``appended``.

        ``timestamps``: one per frame, epoch seconds (default: now, for every frame).
        """
        frames = np.asarray(frames)
        if frames.shape == self.frame_shape:
            frames = frames[None]
        if frames.shape[1:] != self.frame_shape:
            raise DataError(f"{self.key}: frame shape {frames.shape[1:]} != {self.frame_shape}")
        n = len(frames)
        ts = np.full(n, time.time()) if timestamps is None else np.asarray(timestamps, float)
        if ts.shape != (n,):
            raise DataError(f"{self.key}: {n} frames but {ts.size} timestamps")
        with self._lock:
            if self.closed:
                raise DataError(f"{self.key}: frame writer is closed")
            partial = time.monotonic() - self._last >= self.flush_interval_s
            self._write(frames.astype(self.dtype, copy=False), ts, partial)
            return self._frames.n

    def _write(self, frames: np.ndarray | None, ts: np.ndarray | None, partial: bool) -> None:
        before = self._frames.n_disk
        write_columns(self.store, [(self._frames, frames, 0)], partial=partial)
        # timestamps become visible with (or before) their frames
        write_columns(
            self.store, [(self._stamps, ts, 0)], partial=partial or self._frames.n_disk > before
        )
        if partial:
            self._last = time.monotonic()

    def flush(self) -> int:
        """Make every appended frame visible; returns ``length``."""
        with self._lock:
            if not self.closed:
                self._write(None, None, True)
            return self.length

    def close(self) -> None:
        """Flush and refuse further frames."""
        self.flush()
        finalize_columns(self.store, [self._frames, self._stamps])
        self.closed = True

    # -- documents ---------------------------------------------------------------------
    @staticmethod
    def describe_key(frame_shape: Sequence[int], dtype: Any, source: str) -> dict:
        """The descriptor entry (DataKey) of a frame key, for ``describe`` before any frame."""
        return {
            "source": source,
            "shape": [int(s) for s in frame_shape],
            "dtype": "array",
            "dtype_numpy": np.dtype(dtype).str,
            "external": "STREAM:",
        }

    def data_key(self, source: str = "") -> dict:
        """The descriptor entry (DataKey) of this writer's key."""
        return self.describe_key(self.frame_shape, self.dtype, source or f"zarr:{self.array_path}")

    def collect_asset_docs(self, index: int | None = None) -> Iterator[tuple[str, dict]]:
        """StreamResource (first time), then a StreamDatum for frames not yet announced.

        ``index``: announce frames up to this index (default: all visible frames).
        """
        stop = self.length if index is None else min(int(index), self.length)
        if self._bundle is None:
            self._bundle = frame_stream_resource(
                self.store,
                self.array_path,
                self.key,
                timestamps=self.timestamps_path,
                frame_shape=list(self.frame_shape),
                dtype=self.dtype.str,
            )
            yield "stream_resource", self._bundle.stream_resource_doc
        if stop > self._emitted:
            doc = self._bundle.compose_stream_datum(
                indices=StreamRange(start=self._emitted, stop=stop)
            )
            self._emitted = stop
            yield "stream_datum", doc
