"""Photothermal conversion efficiency (PCE) by the Roper method.

Roper, Ahn & Hoepfner, "Microscale heat transfer transduced by surface plasmon resonant
gold nanoparticles", J. Phys. Chem. C 111, 3636 (2007)::

    eta  = (h S (T_max - T_surr) - Q_dis) / (I (1 - 10^(-A)))
    h S  = sum_i m_i c_i / tau_s
    t    = -tau_s ln(theta),      theta = (T - T_surr) / (T_max - T_surr)   (cooling, laser off)

``I`` is the incident laser power in W, ``A`` the absorbance of the sample at the laser
wavelength, ``Q_dis`` the heat from light absorbed by solvent and cuvette, measured with
the solvent alone.  ``tau_s`` is fitted as ``ln(theta) = c - (t - t_off)/tau_s`` (the
Roper relation with the measured quantity as the dependent variable, weighted by
theta^2 because the noise of ln(theta) grows as 1/theta) over the cooling samples until
theta first falls below ``theta_min``.  ``T_max`` is the value at laser-off of a line
fitted over the last ``plateau_s`` before laser-off; the formula assumes that the
heating reached a steady state there (check ``plateau_slope_K_per_s``), or pass
``storage_correction=True`` to add the heat still going into the sample,
``C dT/dt`` at laser-off (energy balance of the lumped model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labctl.analysis._fitting import clean_series, poly_fit, r_squared, residual_std

__all__ = [
    "CoolingFit",
    "PCEResult",
    "fit_cooling",
    "photothermal_efficiency",
    "solvent_dissipation_W",
]


@dataclass(frozen=True)
class CoolingFit:
    """Steady-state temperature before laser-off and the cooling time constant after it."""

    tau_s: float
    tau_std_s: float
    T_max_C: float
    T_max_std_C: float
    T_surr_C: float
    plateau_slope_K_per_s: float
    r_squared: float
    residual_std_K: float
    n_points: int


@dataclass(frozen=True)
class PCEResult:
    """Photothermal conversion efficiency (fraction, 0-1) and the numbers behind it."""

    eta: float
    eta_std: float
    tau_s: float
    hS_W_per_K: float
    T_max_C: float
    T_surr_C: float
    heat_W: float
    absorbed_power_W: float
    q_dis_W: float
    plateau_slope_K_per_s: float
    r_squared: float
    residual_std_K: float
    n_points: int


def _ambient(t: np.ndarray, T: np.ndarray, laser_on_s: float | None, baseline_s: float) -> float:
    """Mean of the baseline before ``laser_on_s``, else the temperature at the first sample
    from a line over the first 10 s (the record must then start at laser-on, at rest)."""
    if laser_on_s is not None:
        pre = (t < laser_on_s) & (t >= laser_on_s - baseline_s)
        if np.count_nonzero(pre) >= 3:
            return float(np.mean(T[pre]))
    first = t <= t[0] + 10.0
    if np.count_nonzero(first) < 3:
        raise ValueError("cannot estimate the ambient temperature: pass ambient_C")
    coef, _, _ = poly_fit(t[first] - t[0], T[first], 1)
    return float(coef[0])


def _plateau(
    t: np.ndarray, T: np.ndarray, laser_off_s: float, plateau_s: float
) -> tuple[float, float, float]:
    """Temperature at laser-off (C), its std (C) and the slope (K/s) of a line fitted over
    the last ``plateau_s`` before laser-off."""
    pl = (t >= laser_off_s - plateau_s) & (t <= laser_off_s)
    if np.count_nonzero(pl) < 3:
        raise ValueError(f"fewer than 3 samples in the {plateau_s} s before laser-off")
    coef, cov, _ = poly_fit(t[pl] - laser_off_s, T[pl], 1)
    return float(coef[0]), float(np.sqrt(cov[0, 0])), float(coef[1])


def fit_cooling(
    t_s: np.ndarray,
    T_C: np.ndarray,
    *,
    laser_off_s: float,
    ambient_C: float | None = None,
    laser_on_s: float | None = None,
    plateau_s: float = 30.0,
    theta_min: float = 0.1,
    skip_s: float = 2.0,
    baseline_s: float = 60.0,
) -> CoolingFit:
    """T_max at laser-off and the cooling time constant tau_s (see the module docstring).

    ``ambient_C`` (T_surr) defaults to the baseline before ``laser_on_s`` or, without it,
    the temperature at the start of the record.  Cooling samples start ``skip_s`` after
    laser-off (probe lag).
    """
    if not 0.0 < theta_min < 1.0:
        raise ValueError(f"theta_min must be in (0, 1), got {theta_min}")
    t, T = clean_series(t_s, T_C)
    T_surr = _ambient(t, T, laser_on_s, baseline_s) if ambient_C is None else float(ambient_C)

    T_max, T_max_std, plateau_slope = _plateau(t, T, laser_off_s, plateau_s)
    dT_max = T_max - T_surr
    if dT_max <= 0:
        raise ValueError(f"T_max ({T_max:.3f} C) is not above T_surr ({T_surr:.3f} C)")

    cool = t >= laser_off_s + skip_s
    x = t[cool] - laser_off_s
    theta = (T[cool] - T_surr) / dT_max
    below = np.flatnonzero(theta < theta_min)
    end = below[0] if below.size else x.size
    x, theta, Tc = x[:end], theta[:end], T[cool][:end]
    keep = theta > 0
    x, theta, Tc = x[keep], theta[keep], Tc[keep]
    if x.size < 5:
        raise ValueError(
            f"only {x.size} cooling samples with theta > {theta_min}: record the cooling longer"
        )
    y = np.log(theta)
    c, ccov, _ = poly_fit(x, y, 1, w=theta**2)
    if c[1] >= 0:
        raise ValueError("the temperature does not decay after laser-off")
    tau = -1.0 / float(c[1])
    tau_std = tau**2 * float(np.sqrt(ccov[1, 1]))
    resid_log = y - (c[0] + c[1] * x)
    resid_T = Tc - (T_surr + dT_max * np.exp(c[0] + c[1] * x))
    return CoolingFit(
        tau_s=tau,
        tau_std_s=tau_std,
        T_max_C=T_max,
        T_max_std_C=T_max_std,
        T_surr_C=T_surr,
        plateau_slope_K_per_s=plateau_slope,
        r_squared=r_squared(y, resid_log),
        residual_std_K=residual_std(resid_T, 2),
        n_points=int(x.size),
    )


def solvent_dissipation_W(
    t_s: np.ndarray,
    T_C: np.ndarray,
    *,
    laser_off_s: float,
    heat_capacity_J_per_K: float | None = None,
    hS_W_per_K: float | None = None,
    ambient_C: float | None = None,
    laser_on_s: float | None = None,
    plateau_s: float = 30.0,
) -> float:
    """Q_dis = hS (T_max,solvent - T_surr) from a solvent-only run, W.

    Give ``hS_W_per_K`` (e.g. from the sample run in the same cuvette: the solvent heats
    by a kelvin or so, too little for a precise time constant) or the solvent run's
    ``heat_capacity_J_per_K`` to use hS = C / tau_s of its own cooling curve.
    """
    if (hS_W_per_K is None) == (heat_capacity_J_per_K is None):
        raise ValueError("give exactly one of hS_W_per_K and heat_capacity_J_per_K")
    if heat_capacity_J_per_K is not None:
        fit = fit_cooling(
            t_s,
            T_C,
            laser_off_s=laser_off_s,
            ambient_C=ambient_C,
            laser_on_s=laser_on_s,
            plateau_s=plateau_s,
        )
        return float(heat_capacity_J_per_K / fit.tau_s * (fit.T_max_C - fit.T_surr_C))
    t, T = clean_series(t_s, T_C)
    T_surr = _ambient(t, T, laser_on_s, 60.0) if ambient_C is None else float(ambient_C)
    T_max, _, _ = _plateau(t, T, laser_off_s, plateau_s)
    return float(hS_W_per_K * (T_max - T_surr))


def photothermal_efficiency(
    t_s: np.ndarray,
    T_C: np.ndarray,
    *,
    laser_off_s: float,
    power_W: float,
    absorbance: float,
    heat_capacity_J_per_K: float,
    ambient_C: float | None = None,
    q_dis_W: float = 0.0,
    laser_on_s: float | None = None,
    plateau_s: float = 30.0,
    theta_min: float = 0.1,
    skip_s: float = 2.0,
    storage_correction: bool = False,
) -> PCEResult:
    """Photothermal conversion efficiency eta (0-1) of a heating-plateau-cooling record.

    ``power_W`` is the laser power incident on the sample, ``absorbance`` the sample's
    absorbance A (base 10) at the laser wavelength, ``q_dis_W`` the solvent/cuvette heat
    (``solvent_dissipation_W``).
    """
    if power_W <= 0 or absorbance <= 0 or heat_capacity_J_per_K <= 0:
        raise ValueError("power_W, absorbance and heat_capacity_J_per_K must be positive")
    fit = fit_cooling(
        t_s,
        T_C,
        laser_off_s=laser_off_s,
        ambient_C=ambient_C,
        laser_on_s=laser_on_s,
        plateau_s=plateau_s,
        theta_min=theta_min,
        skip_s=skip_s,
    )
    C = heat_capacity_J_per_K
    hS = C / fit.tau_s
    dT = fit.T_max_C - fit.T_surr_C
    heat = hS * dT - q_dis_W
    if storage_correction:
        heat += C * fit.plateau_slope_K_per_s
    absorbed = power_W * -np.expm1(-absorbance * np.log(10.0))
    eta = heat / absorbed
    rel = np.hypot(fit.tau_std_s / fit.tau_s, fit.T_max_std_C / dT) * (hS * dT) / heat
    return PCEResult(
        eta=float(eta),
        eta_std=float(abs(eta) * rel),
        tau_s=fit.tau_s,
        hS_W_per_K=float(hS),
        T_max_C=fit.T_max_C,
        T_surr_C=fit.T_surr_C,
        heat_W=float(heat),
        absorbed_power_W=float(absorbed),
        q_dis_W=float(q_dis_W),
        plateau_slope_K_per_s=fit.plateau_slope_K_per_s,
        r_squared=fit.r_squared,
        residual_std_K=fit.residual_std_K,
        n_points=fit.n_points,
    )
