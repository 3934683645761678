"""Specific absorption rate (SAR/SLP) of magnetic nanoparticles from calorimetric heating curves.

Lumped calorimetric model of a vial (PHYSICS.md section 2)::

    C dT/dt = P - L (T - T_amb),        C = sum_i m_i c_i

with P the power dissipated by the particles and L the loss coefficient.  Three
estimators of the heating rate P/C are provided (Wildeboer et al., "Review of the methods
to determine the specific absorption rate of magnetic nanoparticles", J. Phys. D 47,
495003, 2014):

- ``sar_initial_slope``: dT/dt at field-on from a polynomial fit over the first tens of
  seconds (``order=1`` is the classical linear fit, ``order=2`` adds a quadratic term and
  evaluates the derivative at field-on, which removes most of the loss bias);
- ``sar_corrected_slope``: local slopes over windows regressed against T - T_amb,
  ``dT/dt = P/C - (L/C)(T - T_amb)``; the intercept is P/C (exact for the lumped model,
  also when the sample does not start at ambient temperature);
- ``sar_box_lucas``: ``T(t) = T_0 + A (1 - exp(-B t))`` by non-linear least squares
  (Box & Lucas, Biometrika 46, 77, 1959), initial slope A*B.

SAR per gram of iron is ``C * (dT/dt) / m_Fe``.  The intrinsic loss power
``ILP = SLP / (H^2 f)`` (Kallumadil et al., J. Magn. Magn. Mater. 321, 1509, 2009) is in
nH m^2 per kg of iron (``ilp_nH_m2_per_kg_Fe``) with H the field amplitude in A/m and f
in Hz.

Each result carries an uncertainty budget (relative standard uncertainties, GUM
combination in quadrature): the fit; the heat capacity (masses and specific heats);
the vessel's participation (its heat capacity may lag the sample, which makes every
method read high, Wildeboer et al. 2014: rectangular between no and full lag); the
iron mass (ICP-OES, 3-5 %); for ILP also the field calibration (ILP ~ 1/H^2, so
u(H)/H = 5 % gives 10 %).  ``sar_u95_W_per_g`` is the expanded uncertainty (k = 2,
about 95 %).  Each method states its known bias (``bias``).

Fibre-optic probes lag the sample by ~0.1-1 s: every estimator skips the first ``skip_s``
(default 2 s) after field-on, and the fits extrapolate back to ``t_on_s``.  NaN samples
are dropped.  Times may be epoch seconds; fits use ``t - t_on_s``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from labctl.analysis._fitting import clean_series, phi, poly_fit, r_squared, residual_std

__all__ = [
    "WATER_C_J_PER_KGK",
    "CalorimetryUncertainty",
    "SARResult",
    "SARSummary",
    "heat_capacity_J_per_K",
    "ilp_nH_m2_per_kg_Fe",
    "sar_initial_slope",
    "sar_corrected_slope",
    "sar_box_lucas",
    "sar_all",
]

WATER_C_J_PER_KGK = 4186.0
"""Specific heat capacity of liquid water near 25 C, J/(kg K)."""

DEFAULT_SKIP_S = 2.0
"""Samples within this time after field-on are ignored (probe lag, field ramp), s."""

#: Known bias of each method (Wildeboer et al., J. Phys. D 47, 495003, 2014).
KNOWN_BIAS = {
    "initial_slope": "reads low when heat losses act during the fit window (linear fit), "
    "high when the vessel lags the sample",
    "corrected_slope": "unbiased for a lumped sample with linear losses; reads high when "
    "the vessel lags the sample",
    "box_lucas": "unbiased for a lumped sample with linear losses; reads high when the "
    "vessel lags the sample and depends on the fitted time range",
}


@dataclass(frozen=True)
class CalorimetryUncertainty:
    """Standard uncertainties of a SAR measurement's inputs.

    ``heat_capacity_rel``: relative, of C = sum m_i c_i (masses and specific heats);
    ``vessel_J_per_K``: the part of C that is the vessel, which may lag the sample;
    ``iron_mass_rel``: relative, of the iron mass (ICP-OES/AAS, 3-5 %);
    ``field_rel``: relative, of the field amplitude (coil calibration, ~5 %).
    """

    heat_capacity_rel: float = 0.02
    vessel_J_per_K: float = 0.0
    iron_mass_rel: float = 0.04
    field_rel: float = 0.05

    def __post_init__(self) -> None:
        for name in ("heat_capacity_rel", "vessel_J_per_K", "iron_mass_rel", "field_rel"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(
                    f"CalorimetryUncertainty.{name} must be finite and >= 0, not {value!r}"
                )

    def budget(self, C: float, fit_rel: float) -> dict[str, float]:
        """Relative standard uncertainties of SAR by source (fractions)."""
        if self.vessel_J_per_K >= C:
            raise ValueError(
                f"vessel heat capacity {self.vessel_J_per_K} J/K is not below the total {C} J/K"
            )
        return {
            "fit": float(fit_rel),
            "heat_capacity": self.heat_capacity_rel,
            # rectangular between full participation (C) and none (C - C_v)
            "vessel_lag": self.vessel_J_per_K / (C - self.vessel_J_per_K) / np.sqrt(12.0),
            "iron_mass": self.iron_mass_rel,
        }


@dataclass(frozen=True)
class SARResult:
    """One SAR estimate.

    ``slope_K_per_s`` is the heating rate P/C attributed to the particles; ``r_squared``
    and ``residual_std_K`` describe the temperature model of the method against the
    samples it used; ``details`` holds method-specific numbers (units in the keys).
    ``sar_std_W_per_g`` is the fit's alone, ``sar_u_W_per_g`` the combined standard
    uncertainty of ``budget`` (relative, by source); ``bias`` the method's known bias.
    """

    method: str
    sar_W_per_g: float
    sar_std_W_per_g: float
    slope_K_per_s: float
    slope_std_K_per_s: float
    power_W: float
    loss_W_per_K: float | None
    r_squared: float
    residual_std_K: float
    n_points: int
    ilp_nH_m2_per_kg_Fe: float | None = None
    details: Mapping[str, float] = field(default_factory=dict)
    budget: Mapping[str, float] = field(default_factory=dict)
    sar_u_W_per_g: float = float("nan")
    ilp_u_nH_m2_per_kg_Fe: float | None = None
    bias: str = ""

    @property
    def sar_u95_W_per_g(self) -> float:
        """Expanded uncertainty of SAR (k = 2, about 95 % coverage), W/g Fe."""
        return 2.0 * self.sar_u_W_per_g

    @property
    def ilp_u95_nH_m2_per_kg_Fe(self) -> float | None:
        """Expanded uncertainty of ILP (k = 2), nH m^2/kg Fe."""
        return None if self.ilp_u_nH_m2_per_kg_Fe is None else 2 * self.ilp_u_nH_m2_per_kg_Fe


@dataclass(frozen=True)
class SARSummary:
    """The three estimates of one heating curve; a method that could not run is ``None``
    and its reason is in ``errors``."""

    initial_slope: SARResult | None
    corrected_slope: SARResult | None
    box_lucas: SARResult | None
    errors: Mapping[str, str] = field(default_factory=dict)

    @property
    def results(self) -> tuple[SARResult, ...]:
        """The estimates that succeeded."""
        found = (self.initial_slope, self.corrected_slope, self.box_lucas)
        return tuple(r for r in found if r is not None)

    @property
    def mean_sar_W_per_g(self) -> float:
        """Mean SAR of the successful methods, W/g Fe (NaN if none)."""
        vals = [r.sar_W_per_g for r in self.results]
        return float(np.mean(vals)) if vals else float("nan")

    @property
    def spread_percent(self) -> float:
        """(max - min) / mean of the successful methods, percent."""
        vals = np.array([r.sar_W_per_g for r in self.results])
        if vals.size == 0:
            return float("nan")
        return float(100.0 * np.ptp(vals) / abs(np.mean(vals)))


def heat_capacity_J_per_K(components: Iterable[tuple[float, float]]) -> float:
    """Heat capacity C = sum m_i c_i of a sample, J/K.

    ``components`` is an iterable of ``(mass_kg, specific_heat_J_per_kgK)``, e.g.
    ``[(1e-3, WATER_C_J_PER_KGK), (2e-3, 840.0)]`` for 1 mL of water in 2 g of glass.
    """
    total = 0.0
    for mass_kg, c in components:
        if mass_kg < 0 or c < 0:
            raise ValueError(f"negative mass or specific heat in component ({mass_kg}, {c})")
        total += float(mass_kg) * float(c)
    return total


def ilp_nH_m2_per_kg_Fe(sar_W_per_g: float, field_A_m: float, frequency_Hz: float) -> float:
    """Intrinsic loss power ILP = SLP / (H^2 f), nH m^2/kg Fe (SLP in W/g Fe, H amplitude
    in A/m, f in Hz)."""
    if field_A_m <= 0 or frequency_Hz <= 0:
        raise ValueError("field_A_m and frequency_Hz must be positive")
    return float(sar_W_per_g * 1e3 / (field_A_m**2 * frequency_Hz) * 1e9)


# --------------------------------------------------------------------------- helpers


def _heating_segment(
    t: np.ndarray, T: np.ndarray, t_on_s: float, t_off_s: float | None, skip_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Samples between field-on + skip and field-off, time relative to field-on."""
    end = np.inf if t_off_s is None else t_off_s
    sel = (t >= t_on_s + skip_s) & (t <= end)
    return t[sel] - t_on_s, T[sel]


def _make_result(
    method: str,
    slope: float,
    slope_std: float,
    C: float,
    m_fe_g: float,
    field_A_m: float | None,
    frequency_Hz: float | None,
    uncertainty: CalorimetryUncertainty | None = None,
    **kw: object,
) -> SARResult:
    if C <= 0 or m_fe_g <= 0:
        raise ValueError("heat_capacity_J_per_K and iron_mass_g must be positive")
    unc = uncertainty or CalorimetryUncertainty()
    sar = C * slope / m_fe_g
    budget = unc.budget(C, abs(slope_std / slope) if slope else float("inf"))
    u_rel = float(np.sqrt(sum(v * v for v in budget.values())))
    ilp = ilp_u = None
    if field_A_m is not None and frequency_Hz is not None:
        ilp = ilp_nH_m2_per_kg_Fe(sar, field_A_m, frequency_Hz)
        ilp_u = abs(ilp) * float(np.hypot(u_rel, 2.0 * unc.field_rel))
    return SARResult(
        method=method,
        sar_W_per_g=float(sar),
        sar_std_W_per_g=float(C * slope_std / m_fe_g),
        slope_K_per_s=float(slope),
        slope_std_K_per_s=float(slope_std),
        power_W=float(C * slope),
        ilp_nH_m2_per_kg_Fe=ilp,
        budget=budget,
        sar_u_W_per_g=abs(float(sar)) * u_rel,
        ilp_u_nH_m2_per_kg_Fe=ilp_u,
        bias=KNOWN_BIAS[method],
        **kw,  # type: ignore[arg-type]
    )


def _estimate_ambient(t: np.ndarray, T: np.ndarray, t_on_s: float, baseline_s: float) -> float:
    """Mean of the pre-field baseline, or the temperature at field-on extrapolated from a
    quadratic fit of the first 30 s of heating if there is no baseline."""
    pre = (t < t_on_s) & (t >= t_on_s - baseline_s)
    if np.count_nonzero(pre) >= 3:
        return float(np.mean(T[pre]))
    x, y = _heating_segment(t, T, t_on_s, t_on_s + 30.0, DEFAULT_SKIP_S)
    coef, _, _ = poly_fit(x, y, 2)
    return float(coef[0])


# --------------------------------------------------------------------------- methods


def sar_initial_slope(
    t_s: np.ndarray,
    T_C: np.ndarray,
    *,
    heat_capacity_J_per_K: float,
    iron_mass_g: float,
    t_on_s: float,
    t_off_s: float | None = None,
    window_s: float = 30.0,
    skip_s: float = DEFAULT_SKIP_S,
    order: int = 1,
    field_A_m: float | None = None,
    frequency_Hz: float | None = None,
    uncertainty: CalorimetryUncertainty | None = None,
) -> SARResult:
    """SAR from the initial slope, ``SAR = (C / m_Fe) dT/dt |_(t_on)``, W/g Fe.

    Fits a polynomial of ``order`` (1 = classical linear fit, 2 = with quadratic term)
    to the samples in ``[t_on + skip_s, t_on + window_s]`` and takes its derivative at
    ``t_on``.  The linear fit returns the mean slope over the window, which heat losses
    bias low by about ``(L/C) * (skip_s + window_s) / 2`` (2.7 % for a vial with a
    10-minute time constant and the defaults); the quadratic term removes that bias but
    multiplies the noise of the slope by about 4.  Assumes the sample starts at ambient
    temperature; otherwise use ``sar_corrected_slope`` with ``ambient_C``.
    """
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order}")
    t, T = clean_series(t_s, T_C)
    end = t_on_s + window_s if t_off_s is None else min(t_on_s + window_s, t_off_s)
    x, y = _heating_segment(t, T, t_on_s, end, skip_s)
    coef, cov, resid = poly_fit(x, y, order)
    slope, slope_std = float(coef[1]), float(np.sqrt(cov[1, 1]))
    details: dict[str, float] = {
        "order": float(order),
        "window_s": float(window_s),
        "skip_s": float(skip_s),
        "T_on_C": float(coef[0]),
    }
    if order == 2:
        details["curvature_K_per_s2"] = float(2.0 * coef[2])
    return _make_result(
        "initial_slope",
        slope,
        slope_std,
        heat_capacity_J_per_K,
        iron_mass_g,
        field_A_m,
        frequency_Hz,
        uncertainty,
        loss_W_per_K=None,
        r_squared=r_squared(y, resid),
        residual_std_K=residual_std(resid, order + 1),
        n_points=int(x.size),
        details=details,
    )


def sar_corrected_slope(
    t_s: np.ndarray,
    T_C: np.ndarray,
    *,
    heat_capacity_J_per_K: float,
    iron_mass_g: float,
    t_on_s: float,
    t_off_s: float | None = None,
    ambient_C: float | None = None,
    window_s: float = 30.0,
    step_s: float | None = None,
    skip_s: float = DEFAULT_SKIP_S,
    baseline_s: float = 60.0,
    field_A_m: float | None = None,
    frequency_Hz: float | None = None,
    uncertainty: CalorimetryUncertainty | None = None,
) -> SARResult:
    """SAR by the corrected slope method (Wildeboer et al. 2014), W/g Fe.

    The heating segment is cut into windows of ``window_s`` (every ``step_s``, default
    ``window_s``: no overlap).  In each window a local quadratic gives the slope and the
    temperature at the window centre; ``dT/dt = P/C - (L/C)(T - T_amb)`` is then fitted
    to those pairs.  ``ambient_C`` defaults to the mean of the last ``baseline_s`` before
    field-on (or the extrapolated temperature at field-on if there is no baseline).
    Needs at least 3 windows.
    """
    t, T = clean_series(t_s, T_C)
    C = heat_capacity_J_per_K
    if ambient_C is None:
        ambient_C = _estimate_ambient(t, T, t_on_s, baseline_s)
    x, y = _heating_segment(t, T, t_on_s, t_off_s, skip_s)
    if x.size == 0:
        raise ValueError("no samples in the heating segment")
    step = window_s if step_s is None else step_s
    if window_s <= 0 or step <= 0:
        raise ValueError("window_s and step_s must be positive")
    slopes, dT = [], []
    start = x[0]
    while start + window_s <= x[-1] + 1e-9:
        sel = (x >= start) & (x < start + window_s)
        n = np.count_nonzero(sel)
        if n >= 4:
            xc = x[sel].mean()
            coef, _, _ = poly_fit(x[sel] - xc, y[sel], 2 if n >= 5 else 1)
            slopes.append(coef[1])
            dT.append(coef[0] - ambient_C)
        start += step
    if len(slopes) < 3:
        raise ValueError(
            f"corrected slope needs at least 3 windows of {window_s} s with 4 samples each, "
            f"got {len(slopes)}: record longer or shorten window_s"
        )
    slopes_a, dT_a = np.array(slopes), np.array(dT)
    coef, cov, resid_w = poly_fit(dT_a, slopes_a, 1)
    rate, k = float(coef[0]), float(-coef[1])
    # Temperature-domain check: the lumped model with the fitted P/C and L/C, free T(t_on).
    e = np.exp(-k * x)
    drift = rate * x * phi(k * x)
    c0 = float(np.sum(e * (y - ambient_C - drift)) / np.sum(e * e))
    resid = y - (ambient_C + c0 * e + drift)
    return _make_result(
        "corrected_slope",
        rate,
        float(np.sqrt(cov[0, 0])),
        C,
        iron_mass_g,
        field_A_m,
        frequency_Hz,
        uncertainty,
        loss_W_per_K=k * C,
        r_squared=r_squared(y, resid),
        residual_std_K=residual_std(resid, 3),
        n_points=int(x.size),
        details={
            "ambient_C": float(ambient_C),
            "n_windows": float(len(slopes)),
            "window_s": float(window_s),
            "skip_s": float(skip_s),
            "slope_fit_r_squared": r_squared(slopes_a, resid_w),
            "slope_fit_residual_std_K_per_s": residual_std(resid_w, 2),
            "loss_std_W_per_K": float(np.sqrt(cov[1, 1]) * C),
        },
    )


def _box_lucas_model(x: np.ndarray, T0: float, s: float, B: float) -> np.ndarray:
    """T0 + (s/B)(1 - exp(-B x)) written to stay finite at B = 0."""
    return T0 + s * x * phi(B * x)


def sar_box_lucas(
    t_s: np.ndarray,
    T_C: np.ndarray,
    *,
    heat_capacity_J_per_K: float,
    iron_mass_g: float,
    t_on_s: float,
    t_off_s: float | None = None,
    skip_s: float = DEFAULT_SKIP_S,
    field_A_m: float | None = None,
    frequency_Hz: float | None = None,
    uncertainty: CalorimetryUncertainty | None = None,
) -> SARResult:
    """SAR from a Box-Lucas fit ``T = T_0 + A (1 - exp(-B (t - t_on)))``, W/g Fe.

    Fitted as ``T_0 + s (t - t_on) phi(B (t - t_on))`` with ``s = A B`` (the initial
    slope) so the fit stays well conditioned on curves far from saturation.  For the
    lumped model ``B = L/C`` and ``A = P/L``; ``T_0`` is free, which absorbs probe lag.
    """
    t, T = clean_series(t_s, T_C)
    C = heat_capacity_J_per_K
    x, y = _heating_segment(t, T, t_on_s, t_off_s, skip_s)
    if x.size < 6:
        raise ValueError(f"Box-Lucas fit needs at least 6 heating samples, got {x.size}")
    duration = float(x[-1])
    if duration <= 0:
        raise ValueError("heating segment has zero duration")
    q, _, _ = poly_fit(x, y, 2)
    s0 = float(q[1]) if q[1] != 0 else float(np.ptp(y) / duration)
    B0 = float(np.clip(-2.0 * q[2] / s0, 0.01 / duration, 10.0 / duration))
    lower = [-np.inf, -np.inf, -1.0 / duration]
    upper = [np.inf, np.inf, np.inf]
    from scipy.optimize import OptimizeWarning, curve_fit  # deferred: slow import

    with warnings.catch_warnings():
        # A singular covariance is reported as NaN uncertainty below.
        warnings.simplefilter("ignore", OptimizeWarning)
        p, pcov = curve_fit(
            _box_lucas_model,
            x,
            y,
            p0=[float(q[0]), s0, B0],
            bounds=(lower, upper),
            x_scale="jac",
            max_nfev=2000,
        )
    T0, s, B = (float(v) for v in p)
    resid = y - _box_lucas_model(x, T0, s, B)
    s_std = float(np.sqrt(pcov[1, 1])) if np.all(np.isfinite(pcov)) else float("nan")
    return _make_result(
        "box_lucas",
        s,
        s_std,
        C,
        iron_mass_g,
        field_A_m,
        frequency_Hz,
        uncertainty,
        loss_W_per_K=B * C,
        r_squared=r_squared(y, resid),
        residual_std_K=residual_std(resid, 3),
        n_points=int(x.size),
        details={
            "T0_C": T0,
            "A_K": s / B if B != 0 else float("inf"),
            "B_per_s": B,
            "skip_s": float(skip_s),
        },
    )


def sar_all(
    t_s: np.ndarray,
    T_C: np.ndarray,
    *,
    heat_capacity_J_per_K: float,
    iron_mass_g: float,
    t_on_s: float,
    t_off_s: float | None = None,
    ambient_C: float | None = None,
    field_A_m: float | None = None,
    frequency_Hz: float | None = None,
    skip_s: float = DEFAULT_SKIP_S,
    initial_slope_order: int = 1,
    uncertainty: CalorimetryUncertainty | None = None,
) -> SARSummary:
    """All three SAR estimates of one heating curve with their defaults (and ILP when the
    field amplitude ``field_A_m`` and ``frequency_Hz`` are given).

    ``t_off_s`` ends the heating segment (default: end of data); ``ambient_C`` is used by
    the corrected slope method (default: pre-field baseline).
    """
    common = dict(
        heat_capacity_J_per_K=heat_capacity_J_per_K,
        iron_mass_g=iron_mass_g,
        t_on_s=t_on_s,
        t_off_s=t_off_s,
        skip_s=skip_s,
        field_A_m=field_A_m,
        frequency_Hz=frequency_Hz,
        uncertainty=uncertainty,
    )
    results: dict[str, SARResult | None] = {}
    errors: dict[str, str] = {}
    calls = {
        "initial_slope": lambda: sar_initial_slope(t_s, T_C, order=initial_slope_order, **common),
        "corrected_slope": lambda: sar_corrected_slope(t_s, T_C, ambient_C=ambient_C, **common),
        "box_lucas": lambda: sar_box_lucas(t_s, T_C, **common),
    }
    for name, call in calls.items():
        try:
            results[name] = call()
        except (ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
            results[name] = None
            errors[name] = str(exc)
    init, corr = results["initial_slope"], results["corrected_slope"]
    if init is not None and corr is not None and initial_slope_order == 1:
        results["initial_slope"] = _with_loss_term(init, corr, uncertainty)
    return SARSummary(errors=errors, **results)


def _with_loss_term(
    init: SARResult, corr: SARResult, uncertainty: CalorimetryUncertainty | None
) -> SARResult:
    """The linear initial slope with a budget term for its loss bias, about
    ``(L/C) (skip + window) / 2`` with L/C from the corrected slope fit (a bias of at most
    that size, rectangular: b / sqrt(3))."""
    C = corr.power_W / corr.slope_K_per_s if corr.slope_K_per_s else float("nan")
    k = (corr.loss_W_per_K or 0.0) / C if C else float("nan")
    span = init.details.get("skip_s", DEFAULT_SKIP_S) + init.details.get("window_s", 30.0)
    b = abs(k) * span / 2.0
    if not np.isfinite(b):
        return init
    budget = {**init.budget, "heat_loss": float(b / np.sqrt(3.0))}
    u_rel = float(np.sqrt(sum(v * v for v in budget.values())))
    ilp_u = init.ilp_u_nH_m2_per_kg_Fe
    if init.ilp_nH_m2_per_kg_Fe is not None:
        field_rel = (uncertainty or CalorimetryUncertainty()).field_rel
        ilp_u = abs(init.ilp_nH_m2_per_kg_Fe) * float(np.hypot(u_rel, 2.0 * field_rel))
    return replace(
        init,
        budget=budget,
        sar_u_W_per_g=abs(init.sar_W_per_g) * u_rel,
        ilp_u_nH_m2_per_kg_Fe=ilp_u,
        details={**init.details, "loss_bias_estimate": -b},
    )
