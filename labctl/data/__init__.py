"""Run data: document stream -> zarr v3 store, journal, reader, catalog, recovery.

``RunWriter`` (a bluesky callback) writes one store per run; ``FrameWriter`` lets a
detector write its frames into that store; ``open_run`` and ``Catalog`` read them;
``recover`` completes a store whose process died.  Names are imported on first use,
so ``import labctl.data`` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = [
    "RunWriter",
    "FrameWriter",
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
    "open_run": "labctl.data.reader",
    "Run": "labctl.data.reader",
    "Catalog": "labctl.data.catalog",
    "RunSummary": "labctl.data.catalog",
    "recover": "labctl.data.recover",
    "RecoveryReport": "labctl.data.recover",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'labctl.data' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
