"""Pieces shared by the imaging plans: a readable for computed arrays, the analysis of one
multispectral OA stack, and ROI helpers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from labctl.analysis.unmix import (
    absorption_from_p0,
    background_is_identifiable,
    circle_mask,
    roi_stats,
    threshold_roi,
    unmix_spectra,
)
from labctl.core.clock import Clock, WallClock
from labctl.core.errors import ConfigError

__all__ = [
    "Readout",
    "OAResult",
    "analyze_oa_stack",
    "oa_frame_info",
    "circle_roi",
    "default_rois",
    "roi_mask",
    "so2_region",
]


#: relative error of the fluence-compensated absorption spectrum (fluence model, spectral
#: library), a model of this analysis rather than a documented value: it sets the floor
#: of the per-pixel uncertainty where the fit residual alone would be overconfident
MODEL_ERROR = 0.03


class Readout:
    """A readable holding values a plan computed (scalars, strings or numpy arrays, with
    units), read into the current event; ``set`` replaces the values (same keys)."""

    parent = None

    def __init__(
        self, name: str, values: dict[str, tuple[object, str]], *, clock: Clock | None = None
    ) -> None:
        self.name = name
        self._clock = clock if clock is not None else WallClock()
        self._values = dict(values)
        self._t = self._clock.now()

    def set(self, **values) -> None:
        for key, value in values.items():
            self._values[key] = (value, self._values[key][1])
        self._t = self._clock.now()

    @classmethod
    def reuse(
        cls,
        cache: dict,
        name: str,
        values: dict[str, tuple[object, str]],
        *,
        clock: Clock | None = None,
    ) -> Readout:
        """The readout ``name`` from ``cache`` with new ``values`` (a stream must read the
        same object at every event), created on first use."""
        readout = cache.get(name)
        if readout is None:
            readout = cache[name] = cls(name, values, clock=clock)
        else:
            readout._values = dict(values)
            readout._t = readout._clock.now()
        return readout

    def read(self):
        return {
            f"{self.name}_{k}": {"value": v, "timestamp": self._t}
            for k, (v, _) in self._values.items()
        }

    def describe(self):
        out = {}
        for k, (v, units) in self._values.items():
            entry: dict = {"source": f"labctl:{self.name}", "units": units, "shape": []}
            if isinstance(v, np.ndarray):
                entry.update(dtype="array", shape=list(v.shape), dtype_numpy=v.dtype.str)
            elif isinstance(v, (bool, np.bool_)):
                entry["dtype"] = "boolean"
            elif isinstance(v, (int, np.integer)):
                entry["dtype"] = "integer"
            elif isinstance(v, (float, np.floating)):
                entry["dtype"] = "number"
            else:
                entry["dtype"] = "string"
            out[f"{self.name}_{k}"] = entry
        return out

    def read_configuration(self):
        return {}

    def describe_configuration(self):
        return {}


@dataclass
class OAResult:
    """One analysed multispectral stack: component maps (their spectra's units), sO2, the
    agent ROI (boolean mask), ROI statistics and the pixel coordinates (mm)."""

    wavelengths: list[float]
    maps: dict[str, np.ndarray]
    so2: np.ndarray
    roi: np.ndarray
    stats: dict[str, float]
    x_mm: np.ndarray
    z_mm: np.ndarray
    agent: str | None = None
    residual: np.ndarray = field(default_factory=lambda: np.zeros(0))
    valid: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    so2_std: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def arrays(self) -> dict[str, tuple[np.ndarray, str]]:
        out = {name: (m.astype(np.float32), "") for name, m in self.maps.items()}
        out["so2"] = (self.so2.astype(np.float32), "")
        out["so2_std"] = (self.so2_std.astype(np.float32), "")
        out["roi"] = (self.roi.astype(np.uint8), "")
        out["residual"] = (self.residual.astype(np.float32), "")
        out["valid"] = (self.valid.astype(np.uint8), "")
        return out

    def scalars(self) -> dict[str, tuple[object, str]]:
        units = {"roi_area_mm2": "mm^2", "roi_x_mm": "mm", "roi_z_mm": "mm"}
        return {k: (float(v), units.get(k, "")) for k, v in self.stats.items()}

    @property
    def centroid_mm(self) -> tuple[float, float]:
        return (self.stats["roi_x_mm"], self.stats["roi_z_mm"])


def oa_frame_info(oa) -> dict:
    """Pixel coordinates (mm) and pixel size (cm) of the OA device's current images."""
    x, z = oa.image_coordinates()
    pixel_mm = float(oa.pixel_size.get())
    return {
        "x_mm": x,
        "z_mm": z,
        "pixel_cm": pixel_mm / 10.0,
        "z_top_cm": max(float(z[0]) - pixel_mm / 2.0, 0.0) / 10.0,
    }


def analyze_oa_stack(
    stack,
    wavelengths,
    spectra: dict,
    info: dict,
    *,
    agent: str | None,
    fluence_compensation: bool = True,
    grueneisen: float = 0.2,
    roi_fraction: float = 0.5,
    fluence=None,
    min_fluence_fraction: float = 0.02,
    max_so2_std: float = 0.1,
    model_error: float = MODEL_ERROR,
) -> OAResult:
    """Fluence compensation (``fluence``: the per-wavelength surface fluence reading, if
    the scanner reports one), unmixing into ``spectra`` (+ a flat background unless it
    is collinear with them), sO2 with its per-pixel uncertainty (NaN where that exceeds
    ``max_so2_std``: not identifiable), agent ROI and the ROI's sO2 with its uncertainty.

    Pixels whose estimated fluence falls below ``min_fluence_fraction`` of the surface
    fluence at some wavelength are too dark to quantify (noise / tiny fluence): their
    maps are NaN and the ROI avoids them (``valid``)."""
    p0 = np.asarray(stack, dtype=float)
    valid = np.ones(p0.shape[1:], bool)
    if fluence_compensation:
        e0 = np.asarray(fluence["value"], float) if fluence is not None else np.nan
        if not np.all(np.isfinite(e0)):
            raise ConfigError(
                "fluence compensation needs the scanner's surface fluence; "
                "pass fluence_compensation=False to unmix raw p0"
            )
        mua, phi = absorption_from_p0(
            p0,
            wavelengths,
            pixel_cm=info["pixel_cm"],
            surface_fluence=e0,
            grueneisen=grueneisen,
            z_top_cm=info["z_top_cm"],
        )
        valid = np.min(phi / e0[:, None, None], axis=0) >= min_fluence_fraction
    else:
        mua = p0
    background = background_is_identifiable(spectra)
    un = unmix_spectra(mua, spectra, background=background, mask=valid, model_error=model_error)
    so2, so2_std = _so2_maps(un, valid, max_so2_std)
    x, z = info["x_mm"], info["z_mm"]
    pixel_area = float(np.mean(np.diff(x))) * float(np.mean(np.diff(z))) if len(x) > 1 else 0.0
    stats: dict[str, float] = {
        "residual_median": float(np.median(un.residual[valid])),
        "valid_fraction": float(valid.mean()),
        "background_fitted": float(background),
    }
    roi = np.zeros(p0.shape[1:], bool)
    if agent:
        roi = threshold_roi(un.maps[agent], roi_fraction, mask=valid)
        s = roi_stats(un.maps[agent], roi)
        zz, xx = np.nonzero(roi)
        stats.update(
            {
                "agent_roi_mean": s["mean"],
                "agent_roi_max": s["max"],
                "roi_area_mm2": s["n"] * pixel_area,
                "roi_x_mm": float(x[xx].mean()) if s["n"] else math.nan,
                "roi_z_mm": float(z[zz].mean()) if s["n"] else math.nan,
            }
        )
        stats.update(so2_region(so2, so2_std, roi, prefix="so2_roi"))
    stats["so2_mean"] = float(np.nanmean(so2)) if np.isfinite(so2).any() else math.nan
    return OAResult(
        list(wavelengths), dict(un.maps), so2, roi, stats, x, z, agent, un.residual, valid, so2_std
    )


def _so2_maps(un, valid: np.ndarray, max_so2_std: float) -> tuple[np.ndarray, np.ndarray]:
    """sO2 and its standard uncertainty; sO2 is NaN where blood is too scarce (< 5 % of
    the image's 99th percentile of Hb + HbO2) or its uncertainty exceeds ``max_so2_std``
    (not identifiable: e.g. under a strong, featureless agent)."""
    shape = valid.shape
    if "Hb" not in un.maps or "HbO2" not in un.maps:
        return np.full(shape, np.nan), np.full(shape, np.nan)
    total = un.maps["Hb"] + un.maps["HbO2"]
    so2 = un.so2(min_total=0.05 * float(np.nanpercentile(total[valid], 99)))
    so2_std = un.so2_std()
    so2 = np.where(so2_std <= max_so2_std, so2, np.nan)
    return so2, so2_std


def so2_region(
    so2: np.ndarray, so2_std: np.ndarray, region: np.ndarray, *, prefix: str, min_fraction=0.5
) -> dict[str, float]:
    """A region's sO2 (``<prefix>_mean``), its uncertainty (``<prefix>_std``: the median
    per-pixel standard uncertainty, not divided by sqrt(n), because neighbouring pixels
    share the fluence and agent errors) and the fraction of its pixels where sO2 is
    identifiable.  Mean and uncertainty are NaN (not identifiable) when fewer than
    ``min_fraction`` of the region's pixels are."""
    region = np.asarray(region, bool)
    n = int(region.sum())
    ok = region & np.isfinite(so2)
    fraction = ok.sum() / n if n else 0.0
    if n == 0 or fraction < min_fraction:
        mean = std = math.nan
    else:
        mean, std = float(np.mean(so2[ok])), float(np.median(so2_std[ok]))
    return {f"{prefix}_mean": mean, f"{prefix}_std": std, f"{prefix}_identifiable": fraction}


def circle_roi(oa, center_mm: tuple[float, float], radius_mm: float) -> np.ndarray:
    """Disc ROI on the OA device's images around (x, z) mm."""
    x, z = oa.image_coordinates()
    mask = circle_mask(x, z, center_mm, radius_mm)
    if not mask.any():
        raise ConfigError(
            f"ROI of {radius_mm} mm at {center_mm} mm is outside the image "
            f"(x {x[0]:.2f}..{x[-1]:.2f}, z {z[0]:.2f}..{z[-1]:.2f} mm)"
        )
    return mask


def roi_mask(spec, shape: tuple[int, int]) -> np.ndarray:
    """A boolean mask from a mask or a (row, col, radius) circle in pixels."""
    if isinstance(spec, np.ndarray) and spec.dtype == bool:
        if spec.shape != tuple(shape):
            raise ConfigError(f"ROI mask shape {spec.shape} differs from the image {shape}")
        return spec
    try:
        row, col, radius = (float(v) for v in spec)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"an ROI is a boolean mask or (row, col, radius), not {spec!r}") from exc
    rr, cc = np.mgrid[0 : shape[0], 0 : shape[1]]
    mask = np.hypot(rr - row, cc - col) <= radius
    if not mask.any():
        raise ConfigError(f"ROI {spec!r} holds no pixel of a {shape} image")
    return mask


def default_rois(shape: tuple[int, int], roi=None, background=None):
    """(ROI, background) masks: given ones, or a disc of 1/8 of the smaller side at the
    centre and the pixels beyond 0.45 of the smaller side from it."""
    rows, cols = shape
    side = min(rows, cols)
    r = (
        roi_mask(roi, shape)
        if roi is not None
        else roi_mask(((rows - 1) / 2, (cols - 1) / 2, side / 8), shape)
    )
    if background is not None:
        b = roi_mask(background, shape)
    else:
        rr, cc = np.mgrid[0:rows, 0:cols]
        b = np.hypot(rr - (rows - 1) / 2, cc - (cols - 1) / 2) > 0.45 * side
    return r, b
