"""Serve a labctl data directory with Tiled, live, through Tiled's own zarr adapters.

    LABCTL_DATA_DIR=/data/labctl TILED_SINGLE_USER_API_KEY=<key> \\
        tiled serve pyobject --host 127.0.0.1 --port 8000 labctl.remote.tiled_serve:tree

or, in a Tiled configuration file (``tiled serve config config.yml``)::

    trees:
      - path: /
        tree: labctl.remote.tiled_serve:serve_runs
        args: {directory: /data/labctl}

The tree's keys are the run stores' names (``<scan_id>_<plan>_<uid8>``) across all
dates; each run is a container whose metadata are the store's attributes (``start``,
``stop``, ``streams``...) and whose children are its streams, each holding the arrays
(``client[key]["primary"]["thermo_sample"].read()``).  The directory is listed and each
store opened on every request, so runs appear as soon as their store exists and arrays
grow as the writer flushes (``tiled serve directory`` instead indexes a snapshot into a
catalog).  Variable-length string arrays (zarr v3 ``string``, e.g. probe status) are
served as fixed-width unicode arrays, which Tiled can encode.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["serve_runs", "RunDirectory", "run_key"]  # and ``tree`` (module attribute)

_SCAN = re.compile(r"^(\d+)_")


def run_key(path: str | Path) -> str:
    """The key of a run store in the served tree (its name without ``.zarr``)."""
    return Path(path).name.removesuffix(".zarr")


def _sort_key(path: Path) -> tuple:
    m = _SCAN.match(path.name)
    return (path.parent.name, int(m.group(1)) if m else -1, path.name)


class RunDirectory(Mapping):
    """``<data_dir>/<date>/<name>.zarr`` stores as a live mapping key -> Tiled adapter."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def _paths(self) -> dict[str, Path]:
        found = sorted(
            (p for p in self.directory.glob("*/*.zarr") if (p / "zarr.json").is_file()),
            key=_sort_key,
        )
        return {run_key(p): p for p in found}

    def __getitem__(self, key: str):
        path = self._paths().get(key)
        if path is None:
            raise KeyError(key)
        return _open_group(path)

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths())

    def __len__(self) -> int:
        return len(self._paths())


def _fixed_width(values: np.ndarray) -> np.ndarray:
    """Variable-length strings (or objects) as a fixed-width unicode array."""
    flat = [str(v) for v in values.ravel().tolist()]
    width = max((len(s) for s in flat), default=1) or 1
    return np.array(flat, dtype=f"<U{width}").reshape(values.shape)


def _group_adapter_class():
    from tiled.adapters.array import ArrayAdapter
    from tiled.adapters.zarr import ZarrGroupAdapter, dims_from_zarr_array

    class RunGroupAdapter(ZarrGroupAdapter):
        """A zarr group whose metadata are its attributes (not its consolidated
        metadata) and whose string arrays are served as fixed-width unicode."""

        def metadata(self) -> dict[str, Any]:
            return dict(self._zarr_group.attrs)

        def __getitem__(self, key: str):
            import zarr

            value = self._zarr_group[key]
            if isinstance(value, zarr.Group):
                return RunGroupAdapter(value)
            dims = dims_from_zarr_array(value)
            if value.dtype.kind in "TO":
                text = _fixed_width(np.asarray(value[...]))
                return ArrayAdapter.from_array(text, dims=dims, metadata=dict(value.attrs))
            return ArrayAdapter.from_array(value, dims=dims, metadata=dict(value.attrs))

    return RunGroupAdapter


def _open_group(path: Path):
    import zarr

    return _group_adapter_class()(zarr.open_group(str(path), mode="r"))


def serve_runs(directory: str | Path):
    """The Tiled tree (a ``MapAdapter`` over a live :class:`RunDirectory`) for a data dir."""
    path = Path(directory)
    if not path.is_dir():
        from labctl.core.errors import ConfigError

        raise ConfigError(f"data directory {path} does not exist")
    from tiled.adapters.mapping import MapAdapter
    from tiled.structures.container import ContainerStructure

    class LiveMapAdapter(MapAdapter):
        def structure(self) -> ContainerStructure:
            return ContainerStructure(keys=list(self._mapping))

    return LiveMapAdapter(RunDirectory(path), metadata={"labctl_data_dir": path.name})


def __getattr__(name: str) -> Any:
    if name == "tree":  # for ``tiled serve pyobject labctl.remote.tiled_serve:tree``
        directory = os.environ.get("LABCTL_DATA_DIR")
        if not directory:
            from labctl.core.errors import ConfigError

            raise ConfigError("set LABCTL_DATA_DIR to the data directory to serve")
        value = serve_runs(directory)
        globals()["tree"] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
