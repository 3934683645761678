"""Image montages: any data key with 2 or more dimensions per event gets shown.

Per stream:

- a stream with one event (a snapshot: unmixed maps, an sO2 map, a mask): all its 2-D
  keys in one figure, one panel and colour scale per key; each ``(C, H, W)`` key gets
  a grid of its C planes (wavelengths when the run's ``wavelengths`` match C);
- a stream with several events: each 2-D key gets up to ``max_frames`` frames spread
  over the run on one colour scale; each ``(C, H, W)`` key up to ``max_rows`` events
  (rows) by up to 8 planes (columns), one scale per column.

More dimensions are cut at index 0 of the leading extra axes.  Keys naming oxygen
saturation (``so2``) use a fixed 0-1 scale and a diverging map; integer masks are grey.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from labctl.report.data import RunData
from labctl.report.figures import new_figure

if TYPE_CHECKING:  # matplotlib is optional (the plot extra): imported when drawing
    from matplotlib.figure import Figure

__all__ = ["image_figures", "frames_figure", "maps_figure", "planes_figure"]


def _pick(n: int, k: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, k)).round().astype(int))


def _style(arr: np.ndarray, key: str, integer: bool = False) -> tuple[float, float, str]:
    if "so2" in key.lower():
        return 0.0, 1.0, "RdBu_r"
    if integer:
        return 0.0, max(1.0, float(np.nanmax(arr)) if arr.size else 1.0), "gray"
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return 0.0, 1.0, "inferno"
    lo, hi = np.percentile(finite, [1, 99.5])
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi), "inferno"


def _fmt_t(t: float) -> str:
    return f"{t:.0f} s" if abs(t) >= 100 else f"{t:.3g} s"


def _bare(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def _plane_labels(data: RunData, stream: str, key: str, n: int) -> list[str]:
    """Names of the C planes of a key: descriptor ``labels``/``wavelengths_nm``, else the
    run's ``wavelengths`` argument when it has C values, else ``[i]``."""
    for d in data.run.descriptors(stream):
        dk = d["data_keys"].get(key, {})
        for name, fmt in (("labels", "{}"), ("wavelengths_nm", "{:g} nm")):
            values = dk.get(name)
            if isinstance(values, list | tuple) and len(values) == n:
                return [fmt.format(v) for v in values]
    wl = (data.start.get("plan_args") or {}).get("wavelengths")
    if isinstance(wl, list | tuple) and len(wl) == n:
        return [f"{float(w):g} nm" for w in wl]
    return [f"[{i}]" for i in range(n)]


def _times(data: RunData, stream: str, key: str, ds) -> np.ndarray:
    ts = data.run.timestamps(stream)
    t = ts[key].values if key in ts.variables else ds["time"].values
    t = np.asarray(t, float)
    return t - (data.t0 if data.thermometer_keys else float(t[0]))


def _squeeze(da):
    """Cut extra leading axes so the per-event shape is (H, W) or (C, H, W)."""
    while da.ndim > 4:
        da = da.isel({da.dims[1]: 0})
    if da.ndim == 4 and da.shape[1] == 1:
        da = da.isel({da.dims[1]: 0})
    return da


def frames_figure(data: RunData, stream: str, key: str, *, max_frames: int = 12) -> Figure:
    """Frames of a 2-D key spread over the run, one colour scale."""
    ds = data.run.stream(stream)
    da = _squeeze(ds[key])
    n = da.sizes["time"]
    idx = _pick(n, max_frames)
    frames = np.asarray(da.isel(time=idx).values, float)
    t = _times(data, stream, key, ds)
    ncol = min(len(idx), 4)
    nrow = -(-len(idx) // ncol)
    fig = new_figure(width=2.6 * ncol + 1.0, height=2.4 * nrow + 0.8)
    axes = fig.subplots(nrow, ncol, squeeze=False).ravel()
    lo, hi, cmap = _style(frames, key, da.dtype.kind in "biu")
    im = None
    for ax, i, frame in zip(axes, idx, frames, strict=False):
        im = ax.imshow(frame, vmin=lo, vmax=hi, cmap=cmap)
        ax.set_title(f"#{i}  t = {_fmt_t(t[i])}", fontsize=8)
    for ax in axes:
        _bare(ax)
    for ax in axes[len(idx) :]:
        ax.set_visible(False)
    fig.colorbar(im, ax=list(axes), shrink=0.8, label=da.attrs.get("units") or key)
    fig.suptitle(f"Image montage: {stream}/{key} ({len(idx)} of {n} frames)")
    return fig


def planes_figure(
    data: RunData, stream: str, key: str, *, max_rows: int = 4, max_planes: int = 16
) -> Figure:
    """A (C, H, W) key: the planes of one event in a grid, or events x planes."""
    ds = data.run.stream(stream)
    da = _squeeze(ds[key])
    n, planes = da.sizes["time"], da.shape[1]
    labels = _plane_labels(data, stream, key, planes)
    units = da.attrs.get("units") or None
    if n == 1:
        shown = _pick(planes, max_planes)
        stack = np.asarray(da.isel(time=0).values, float)[shown]
        ncol = min(len(shown), 4)
        nrow = -(-len(shown) // ncol)
        fig = new_figure(width=2.5 * ncol + 1.0, height=2.3 * nrow + 0.8)
        axes = fig.subplots(nrow, ncol, squeeze=False).ravel()
        lo, hi, cmap = _style(stack, key)
        im = None
        for ax, c, img in zip(axes, shown, stack, strict=False):
            im = ax.imshow(img, vmin=lo, vmax=hi, cmap=cmap)
            ax.set_title(labels[c], fontsize=9)
        for ax in axes:
            _bare(ax)
        for ax in axes[len(shown) :]:
            ax.set_visible(False)
        fig.colorbar(im, ax=list(axes), shrink=0.8, label=units)
        fig.suptitle(f"Image stack: {stream}/{key} ({len(shown)} of {planes} planes)")
        return fig
    idx = _pick(n, max_rows)
    cols = min(planes, 8)
    stack = np.asarray(da.isel(time=idx).values, float)
    t = _times(data, stream, key, ds)
    fig = new_figure(width=2.3 * cols + 1.2, height=2.2 * len(idx) + 0.8)
    axes = fig.subplots(len(idx), cols, squeeze=False)
    for c in range(cols):
        lo, hi, cmap = _style(stack[:, c], key)
        im = None
        for r, i in enumerate(idx):
            ax = axes[r, c]
            im = ax.imshow(stack[r, c], vmin=lo, vmax=hi, cmap=cmap)
            _bare(ax)
            if r == 0:
                ax.set_title(labels[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(f"#{i}, t = {_fmt_t(t[i])}", fontsize=8)
        fig.colorbar(im, ax=list(axes[:, c]), shrink=0.8, location="bottom", label=units)
    fig.suptitle(
        f"Image montage: {stream}/{key} ({len(idx)} of {n} events x {cols} of {planes} planes)"
    )
    return fig


def maps_figure(data: RunData, stream: str, keys: list[str]) -> Figure:
    """The 2-D keys of a one-event stream side by side, each on its own scale."""
    ds = data.run.stream(stream)
    prefix = f"{stream}_"
    ncol = min(len(keys), 4)
    nrow = -(-len(keys) // ncol)
    fig = new_figure(width=3.0 * ncol + 0.5, height=2.9 * nrow + 0.8)
    axes = fig.subplots(nrow, ncol, squeeze=False).ravel()
    for ax, key in zip(axes, keys, strict=False):
        da = _squeeze(ds[key])
        img = np.asarray(da.isel(time=-1).values, float)
        lo, hi, cmap = _style(img, key, da.dtype.kind in "biu")
        im = ax.imshow(img, vmin=lo, vmax=hi, cmap=cmap)
        _bare(ax)
        name = key.removeprefix(prefix)
        units = da.attrs.get("units")
        ax.set_title(name + (f" ({units})" if units else ""), fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8)
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    names = ", ".join(k.removeprefix(prefix) for k in keys)
    fig.suptitle(f"Image maps: {stream} ({names})")
    return fig


def image_figures(data: RunData) -> list[tuple[str, Figure]]:
    """(name, figure) for the image data of the run (see the module docstring)."""
    by_stream: dict[str, list[tuple[str, tuple]]] = {}
    for stream, key, shape in data.image_keys():
        by_stream.setdefault(stream, []).append((key, shape))
    out = []
    for stream, keys in by_stream.items():
        ds = data.run.stream(stream)
        if "time" not in ds.dims or ds.sizes["time"] == 0:
            continue
        n = ds.sizes["time"]
        present = [(k, s) for k, s in keys if k in ds.variables]
        flat = [k for k, s in present if len(s) == 2 or (len(s) == 3 and s[0] == 1)]
        stacks = [k for k, s in present if k not in flat]
        if n == 1 and flat:
            out.append((f"images_{stream}_maps", maps_figure(data, stream, flat)))
        else:
            out += [(f"images_{stream}_{k}", frames_figure(data, stream, k)) for k in flat]
        out += [(f"images_{stream}_{k}", planes_figure(data, stream, k)) for k in stacks]
    return out
