"""Optoacoustic thermometry: temperature from the relative change of the OA signal.

The initial pressure ``p0 = Gamma(T) mu_a Phi`` depends on temperature through the
Grueneisen parameter; for water-like tissue ``Gamma(T) = 0.0043 + 0.0053 T[C]``
(PHYSICS.md section 4; ~2.6 %/C at 37 C), so with absorption and fluence unchanged the
signal ratio to a baseline image at ``T0`` is linear in temperature::

    S / S0 = 1 + a (T - T0),        a = 0.0053 / Gamma(T0)   (theory, water-like)

The slope differs between tissues (lipids, agent) and setups, so it is calibrated: pairs
of (ROI signal ratio, fiber-optic probe temperature) recorded while the tissue warms are
fitted by least squares, ``ratio = c0 + a (T - T0)``, and inverted for temperature maps
(I. V. Larina, K. V. Larin, R. O. Esenaliev, J. Phys. D 38 (2005) 2633; S. M. Nikitin,
T. D. Khokhlova, I. M. Pelivanov, J. Biomed. Opt. 17 (2012) 061214).

The linear law is itself a model: water's Grueneisen parameter from measured density,
sound speed and heat capacity rises 8-16 % less steeply over 37-45 C (PHYSICS.md
section 6).  A calibration's accuracy is therefore reported on held-out points, images
and probe readings it was not fitted to (:func:`held_out_errors`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = [
    "GRUENEISEN_OFFSET",
    "GRUENEISEN_SLOPE_PER_C",
    "grueneisen_water",
    "theoretical_slope_per_K",
    "OAThermometryCalibration",
    "calibrate_oa_thermometry",
    "signal_ratio",
    "temperature_map",
    "held_out_errors",
    "split_for_validation",
]

GRUENEISEN_OFFSET = 0.0043
GRUENEISEN_SLOPE_PER_C = 0.0053


def grueneisen_water(T_C):
    """Grueneisen parameter of water-like tissue at ``T_C`` (dimensionless)."""
    return GRUENEISEN_OFFSET + GRUENEISEN_SLOPE_PER_C * np.asarray(T_C, dtype=float)


def theoretical_slope_per_K(T0_C: float) -> float:
    """d(S/S0)/dT for water-like tissue around ``T0_C``, 1/K."""
    return GRUENEISEN_SLOPE_PER_C / float(grueneisen_water(T0_C))


@dataclass(frozen=True)
class OAThermometryCalibration:
    """``ratio = offset + slope (T - T0)``; invert with :meth:`temperature`.

    ``residual_C``: rms of the calibration points' temperature residuals;
    ``slope_theory_per_K``: the water-like Grueneisen value, for comparison.
    """

    T0_C: float
    slope_per_K: float
    offset: float
    slope_std_per_K: float
    residual_C: float
    r_squared: float
    n_points: int
    T_range_C: tuple[float, float]
    slope_theory_per_K: float

    def temperature(self, ratio, reference_C: float | None = None):
        """Temperature (C) from a signal ratio S/S0 (scalar or map).

        ``reference_C``: temperature of the reference image S0 when it is not the
        calibration's own (a later session): the ratio is first rescaled to the
        calibration's reference, ``S/S0_cal = S/S0 * (offset + slope (T_ref - T0))``.
        """
        r = np.asarray(ratio, dtype=float)
        if reference_C is not None:
            r = r * (self.offset + self.slope_per_K * (float(reference_C) - self.T0_C))
        return self.T0_C + (r - self.offset) / self.slope_per_K

    @classmethod
    def theoretical(cls, T0_C: float) -> OAThermometryCalibration:
        """The water-like Grueneisen calibration around ``T0_C`` (before any data)."""
        a = theoretical_slope_per_K(T0_C)
        return cls(
            T0_C=float(T0_C),
            slope_per_K=a,
            offset=1.0,
            slope_std_per_K=math.nan,
            residual_C=math.nan,
            r_squared=math.nan,
            n_points=0,
            T_range_C=(float(T0_C), float(T0_C)),
            slope_theory_per_K=a,
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "T0_C": self.T0_C,
            "slope_per_K": self.slope_per_K,
            "offset": self.offset,
            "slope_std_per_K": self.slope_std_per_K,
            "residual_C": self.residual_C,
            "r_squared": self.r_squared,
            "n_points": self.n_points,
            "T_min_C": self.T_range_C[0],
            "T_max_C": self.T_range_C[1],
            "slope_theory_per_K": self.slope_theory_per_K,
        }


def calibrate_oa_thermometry(
    ratios,
    temperatures_C,
    *,
    T0_C: float | None = None,
) -> OAThermometryCalibration:
    """Least-squares calibration from paired ROI signal ratios and probe temperatures.

    ``T0_C``: the baseline temperature of the reference image (default: the first
    temperature).  Needs at least 3 points spanning more than 0.5 C.
    """
    r = np.asarray(ratios, dtype=float)
    T = np.asarray(temperatures_C, dtype=float)
    ok = np.isfinite(r) & np.isfinite(T)
    r, T = r[ok], T[ok]
    if r.size < 3 or np.ptp(T) < 0.5:
        raise ValueError(
            f"OA thermometry calibration needs >= 3 points spanning > 0.5 C, got "
            f"{r.size} points over {np.ptp(T) if T.size else 0:.2f} C"
        )
    t0 = float(T[0] if T0_C is None else T0_C)
    X = np.column_stack([np.ones_like(T), T - t0])
    coef, *_ = np.linalg.lstsq(X, r, rcond=None)
    offset, slope = float(coef[0]), float(coef[1])
    if not slope > 0:
        raise ValueError(f"OA signal does not rise with temperature (slope {slope:.3g}/K)")
    fit = X @ coef
    resid = r - fit
    dof = max(r.size - 2, 1)
    s2 = float(resid @ resid) / dof
    cov = s2 * np.linalg.inv(X.T @ X)
    ss_tot = float(((r - r.mean()) ** 2).sum())
    r2 = 1.0 - float(resid @ resid) / ss_tot if ss_tot > 0 else math.nan
    T_fit = t0 + (r - offset) / slope
    return OAThermometryCalibration(
        T0_C=t0,
        slope_per_K=slope,
        offset=offset,
        slope_std_per_K=math.sqrt(cov[1, 1]),
        residual_C=float(np.sqrt(np.mean((T_fit - T) ** 2))),
        r_squared=r2,
        n_points=int(r.size),
        T_range_C=(float(T.min()), float(T.max())),
        slope_theory_per_K=theoretical_slope_per_K(t0),
    )


def signal_ratio(
    image: np.ndarray,
    baseline: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    smooth_px: float = 0.0,
    min_baseline: float | None = None,
):
    """S/S0: the ROI-mean ratio when ``mask`` is given, else a per-pixel map (NaN where the
    baseline is below ``min_baseline``, default 5 % of its 99th percentile)."""
    img = np.asarray(image, dtype=float)
    base = np.asarray(baseline, dtype=float)
    if img.shape != base.shape:
        raise ValueError(f"image {img.shape} and baseline {base.shape} differ in shape")
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        b = float(np.nanmean(base[m])) if m.any() else math.nan
        return float(np.nanmean(img[m])) / b if b and math.isfinite(b) else math.nan
    if smooth_px > 0:
        img = ndimage.gaussian_filter(img, smooth_px)
        base = ndimage.gaussian_filter(base, smooth_px)
    floor = (
        0.05 * float(np.nanpercentile(base, 99)) if min_baseline is None else float(min_baseline)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(base > floor, img / base, np.nan)


def temperature_map(
    image: np.ndarray,
    baseline: np.ndarray,
    calibration: OAThermometryCalibration,
    *,
    reference_C: float | None = None,
    smooth_px: float = 1.0,
    min_baseline: float | None = None,
) -> np.ndarray:
    """Temperature map (C) from an OA image and a baseline image taken at ``reference_C``
    (default: the calibration's ``T0_C``); NaN where the baseline is too weak to tell."""
    ratio = signal_ratio(image, baseline, smooth_px=smooth_px, min_baseline=min_baseline)
    return calibration.temperature(ratio, reference_C)


def split_for_validation(n: int, *, every: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, held out) of ``n`` points taken in time order: every ``every``-th
    point from the second on is held out, so both halves span the same temperatures;
    the first point (the reference image) is always fitted."""
    if every < 2:
        raise ValueError(f"every must be >= 2, got {every}")
    idx = np.arange(n)
    held = idx % every == 1
    return idx[~held], idx[held]


def held_out_errors(calibration: OAThermometryCalibration, ratios, temperatures_C) -> np.ndarray:
    """OA temperature minus probe temperature (C) at points the calibration did not use
    (NaN pairs dropped)."""
    r = np.asarray(ratios, dtype=float)
    T = np.asarray(temperatures_C, dtype=float)
    ok = np.isfinite(r) & np.isfinite(T)
    return np.asarray(calibration.temperature(r[ok]), dtype=float) - T[ok]
