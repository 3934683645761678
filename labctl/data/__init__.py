"""Run data: document stream -> zarr v3 store, journal, reader, catalog, recovery.

``RunWriter`` (a bluesky callback) writes one store per run; ``FrameWriter`` lets a
detector write its frames into that store; ``read_run`` and ``Catalog`` read them;
``recover`` completes a store whose process died.  Names are imported on first use,
so ``import labctl.data`` stays light.
"""

from __future__ import annotations

from labctl._lazy import lazy_exports

__all__ = [
    "RunWriter",
    "FrameWriter",
    "read_run",
    "open_run",
    "Run",
    "Catalog",
    "RunSummary",
    "recover",
    "RecoveryReport",
    "frame_stream_resource",
]

_WHERE = {
    "RunWriter": "labctl.data.writer",
    "FrameWriter": "labctl.data.frames",
    "frame_stream_resource": "labctl.data.frames",
    "read_run": "labctl.data.reader",
    "open_run": "labctl.data.reader",
    "Run": "labctl.data.reader",
    "Catalog": "labctl.data.catalog",
    "RunSummary": "labctl.data.catalog",
    "recover": "labctl.data.recover",
    "RecoveryReport": "labctl.data.recover",
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
