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
heating reached a steady state there.  The heat still going into the sample at
laser-off, ``storage_W = C dT/dt`` (energy balance of the lumped model), is always
reported; ``storage_correction=True`` adds it to the heat, and without it a storage
significant against the heat (``plateau_tolerance``) is warned about
(``plateau_reached`` False).

Q_dis comes from a blank (solvent-only) run in the same cuvette (Roper 2007): its
plateau rise ``delta_T_C`` (``solvent_blank``) times this run's hS, scaled by the power
ratio (absorption is linear in power).  ``eta_std`` is the combined standard uncertainty
(GUM, first-order propagation in quadrature) of the terms in ``budget``: tau, the
temperature rise, the blank, the storage term (if applied), the heat capacity, the laser
power (power-meter calibration) and the absorbance; ``eta_u95`` is 2 ``eta_std``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from labctl.analysis._fitting import clean_series, poly_fit, r_squared, residual_std

__all__ = [
    "BlankResult",
    "CoolingFit",
    "PCEInputs",
    "PCEResult",
    "fit_cooling",
    "photothermal_efficiency",
    "solvent_blank",
    "solvent_dissipation_W",
]


@dataclass(frozen=True)
class BlankResult:
    """Plateau rise of a solvent-only run: ``delta_T_C`` +/- ``delta_T_std_C`` (K) at
    ``power_W`` of laser."""

    delta_T_C: float
    delta_T_std_C: float
    power_W: float

    def __post_init__(self) -> None:
        for name in ("delta_T_C", "delta_T_std_C", "power_W"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(
                    f"blank {name} must be a finite number, not {getattr(self, name)!r}"
                )
        if not (self.power_W > 0 and self.delta_T_std_C >= 0):
            raise ValueError("blank power_W must be > 0 and delta_T_std_C >= 0")


@dataclass(frozen=True)
class PCEInputs:
    """Standard uncertainties of the measured inputs of eta: relative ones of the laser
    power (power-meter calibration, ~3 %) and of the heat capacity (masses and specific
    heats), the absolute one of the absorbance (UV-Vis, ~0.01)."""

    power_rel: float = 0.03
    heat_capacity_rel: float = 0.01
    absorbance_std: float = 0.01

    def __post_init__(self) -> None:
        for name in ("power_rel", "heat_capacity_rel", "absorbance_std"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"PCEInputs.{name} must be finite and >= 0, not {value!r}")


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
    T_surr_std_C: float = 0.0
    plateau_slope_std_K_per_s: float = 0.0


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
    storage_W: float = 0.0
    storage_applied: bool = False
    plateau_reached: bool = True
    q_dis_std_W: float = 0.0
    budget: Mapping[str, float] = field(default_factory=dict)

    @property
    def eta_u95(self) -> float:
        """Expanded uncertainty of eta (k = 2, about 95 % coverage)."""
        return 2.0 * self.eta_std


def _ambient(
    t: np.ndarray, T: np.ndarray, laser_on_s: float | None, baseline_s: float
) -> tuple[float, float]:
    """Mean (C) and its standard error (C) of the baseline before ``laser_on_s``, else the
    temperature at the first sample from a line over the first 10 s (the record must then
    start at laser-on, at rest)."""
    if laser_on_s is not None:
        pre = (t < laser_on_s) & (t >= laser_on_s - baseline_s)
        n = np.count_nonzero(pre)
        if n >= 3:
            return float(np.mean(T[pre])), float(np.std(T[pre], ddof=1) / np.sqrt(n))
    first = t <= t[0] + 10.0
    if np.count_nonzero(first) < 3:
        raise ValueError("cannot estimate the ambient temperature: pass ambient_C")
    coef, cov, _ = poly_fit(t[first] - t[0], T[first], 1)
    return float(coef[0]), float(np.sqrt(cov[0, 0]))


def _plateau(
    t: np.ndarray, T: np.ndarray, laser_off_s: float, plateau_s: float
) -> tuple[float, float, float, float]:
    """Temperature at laser-off (C), its std (C), the slope (K/s) and its std (K/s) of a
    line fitted over the last ``plateau_s`` before laser-off."""
    pl = (t >= laser_off_s - plateau_s) & (t <= laser_off_s)
    if np.count_nonzero(pl) < 3:
        raise ValueError(f"fewer than 3 samples in the {plateau_s} s before laser-off")
    coef, cov, _ = poly_fit(t[pl] - laser_off_s, T[pl], 1)
    return (
        float(coef[0]),
        float(np.sqrt(cov[0, 0])),
        float(coef[1]),
        float(np.sqrt(cov[1, 1])),
    )


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
    if ambient_C is None:
        T_surr, T_surr_std = _ambient(t, T, laser_on_s, baseline_s)
    else:
        T_surr, T_surr_std = float(ambient_C), 0.0
    T_max, T_max_std, plateau_slope, slope_std = _plateau(t, T, laser_off_s, plateau_s)
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
        T_surr_std_C=T_surr_std,
        plateau_slope_std_K_per_s=slope_std,
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
    blank = solvent_blank(
        t_s,
        T_C,
        laser_off_s=laser_off_s,
        power_W=1.0,
        ambient_C=ambient_C,
        laser_on_s=laser_on_s,
        plateau_s=plateau_s,
    )
    return float(hS_W_per_K * blank.delta_T_C)


def solvent_blank(
    t_s: np.ndarray,
    T_C: np.ndarray,
    *,
    laser_off_s: float,
    power_W: float,
    ambient_C: float | None = None,
    laser_on_s: float | None = None,
    plateau_s: float = 120.0,
    baseline_s: float = 60.0,
) -> BlankResult:
    """Plateau rise T_max - T_surr (K) of a solvent-only run at ``power_W`` W, with its
    standard uncertainty (line at laser-off over the last ``plateau_s``, baseline mean).
    The solvent heats by about a kelvin: a long plateau window averages the noise."""
    t, T = clean_series(t_s, T_C)
    if ambient_C is None:
        T_surr, T_surr_std = _ambient(t, T, laser_on_s, baseline_s)
    else:
        T_surr, T_surr_std = float(ambient_C), 0.0
    T_max, T_max_std, _, _ = _plateau(t, T, laser_off_s, plateau_s)
    return BlankResult(
        delta_T_C=T_max - T_surr,
        delta_T_std_C=float(np.hypot(T_max_std, T_surr_std)),
        power_W=float(power_W),
    )


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
    q_dis_std_W: float = 0.0,
    blank: BlankResult | None = None,
    inputs: PCEInputs | None = None,
    laser_on_s: float | None = None,
    plateau_s: float = 30.0,
    theta_min: float = 0.1,
    skip_s: float = 2.0,
    storage_correction: bool = False,
    plateau_tolerance: float = 0.01,
) -> PCEResult:
    """Photothermal conversion efficiency eta (0-1) of a heating-plateau-cooling record.

    ``power_W`` is the laser power incident on the sample, ``absorbance`` the sample's
    absorbance A (base 10) at the laser wavelength; the solvent/cuvette heat is either
    ``blank`` (``solvent_blank`` of a solvent-only run, preferred) or ``q_dis_W`` +/-
    ``q_dis_std_W``.  ``inputs``: uncertainties of power, heat capacity and absorbance.
    """
    for name, value in (
        ("power_W", power_W),
        ("absorbance", absorbance),
        ("heat_capacity_J_per_K", heat_capacity_J_per_K),
        ("q_dis_W", q_dis_W),
        ("q_dis_std_W", q_dis_std_W),
    ):
        if not math.isfinite(value):
            raise ValueError(f"photothermal_efficiency: {name} must be finite, not {value!r}")
    if power_W <= 0 or absorbance <= 0 or heat_capacity_J_per_K <= 0:
        raise ValueError("power_W, absorbance and heat_capacity_J_per_K must be positive")
    if blank is not None and q_dis_W:
        raise ValueError("give the solvent heat as blank or as q_dis_W, not both")
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
    if blank is not None:
        ratio = power_W / blank.power_W
        q_dis_W, q_dis_std_W = hS * blank.delta_T_C * ratio, hS * blank.delta_T_std_C * ratio
    storage = C * fit.plateau_slope_K_per_s
    heat = hS * dT - q_dis_W + (storage if storage_correction else 0.0)
    absorbed = power_W * -np.expm1(-absorbance * np.log(10.0))
    eta = heat / absorbed
    budget = _eta_budget(
        fit, C, hS, heat, q_dis_W, q_dis_std_W, absorbance, storage_correction, inputs
    )
    reached = storage_correction or _plateau_reached(fit, C, heat, plateau_tolerance)
    return PCEResult(
        eta=float(eta),
        eta_std=float(abs(eta) * np.sqrt(sum(v * v for v in budget.values()))),
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
        storage_W=float(storage),
        storage_applied=bool(storage_correction),
        plateau_reached=bool(reached),
        q_dis_std_W=float(q_dis_std_W),
        budget=budget,
    )


def _plateau_reached(fit: CoolingFit, C: float, heat: float, tolerance: float) -> bool:
    """False (and a warning) when the storage C dT/dt at laser-off is significant (> 3
    standard errors) and above ``tolerance`` of the heat."""
    storage, storage_std = C * fit.plateau_slope_K_per_s, C * fit.plateau_slope_std_K_per_s
    if abs(storage) > max(3.0 * storage_std, tolerance * abs(heat)):
        warnings.warn(
            f"photothermal_efficiency: no plateau at laser-off (the sample still heats by "
            f"{fit.plateau_slope_K_per_s * 60:.3g} K/min, storage {storage * 1e3:.3g} mW, "
            f"{100 * storage / heat:.1f} % of the heat): heat longer or use "
            "storage_correction=True",
            RuntimeWarning,
            stacklevel=3,
        )
        return False
    return True


def _eta_budget(
    fit: CoolingFit,
    C: float,
    hS: float,
    heat: float,
    q_dis: float,
    q_dis_std: float,
    absorbance: float,
    storage_applied: bool,
    inputs: PCEInputs | None,
) -> dict[str, float]:
    """Relative standard uncertainties of eta by source (first-order propagation)."""
    inp = inputs or PCEInputs()
    a = absorbance * np.log(10.0)
    dT = fit.T_max_C - fit.T_surr_C
    sink = hS * dT - q_dis  # the part of the heat that scales as C / tau
    return {
        "tau": abs(sink / heat) * fit.tau_std_s / fit.tau_s,
        "temperature_rise": abs(hS / heat) * float(np.hypot(fit.T_max_std_C, fit.T_surr_std_C)),
        "blank": abs(q_dis_std / heat),
        "storage": abs(C * fit.plateau_slope_std_K_per_s / heat) if storage_applied else 0.0,
        "heat_capacity": inp.heat_capacity_rel,
        "laser_power": inp.power_rel,
        # d ln(1 - 10^-A) / dA = ln(10) 10^-A / (1 - 10^-A)
        "absorbance": float(np.log(10.0) * np.exp(-a) / -np.expm1(-a)) * inp.absorbance_std,
    }
