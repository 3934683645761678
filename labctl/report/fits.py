"""SAR and PCE figures: the stored heating/cooling curve with the fits recomputed by
``labctl.analysis`` from the curve and the run's metadata (heat capacity, iron mass,
field on/off times, laser power, absorbance).
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import numpy as np

from labctl.analysis.pce import BlankResult, PCEInputs, photothermal_efficiency
from labctl.analysis.sar import CalorimetryUncertainty, sar_all
from labctl.report.data import RunData
from labctl.report.figures import new_figure

if TYPE_CHECKING:  # matplotlib is optional (the plot extra): imported when drawing
    from matplotlib.figure import Figure

__all__ = ["sar_figure", "pce_figure", "recompute_sar", "recompute_pce"]


def _curve(data: RunData):
    s = data.series(data.control_key) if data.control_key else None
    if s is None or s.t.size < 6:
        return None
    ok = np.isfinite(s.values)
    return s.t[ok], s.values[ok]


def recompute_sar(data: RunData):
    """``SARSummary`` of the stored curve (``None`` if the run is not a SAR measurement)."""
    if data.start.get("plan_name") != "sar_measurement":
        return None
    curve = _curve(data)
    t_on, t_off = data.result("t_on"), data.result("t_off")
    if curve is None or not math.isfinite(t_on):
        t_on, t_off = data.command_edges()
    C = data.start.get("heat_capacity_J_per_K") or data.result("heat_capacity_J_per_K")
    iron = data.start.get("iron_mass_g") or data.result("iron_mass_g")
    if curve is None or not math.isfinite(t_on) or not C or not iron:
        return None
    field = data.start.get("field_kA_m")
    freq = data.start.get("frequency_Hz")
    vessel = data.result("vessel_heat_capacity_J_per_K")
    given = (data.start.get("plan_args") or {}).get("uncertainty") or {}
    unc = CalorimetryUncertainty(
        vessel_J_per_K=float(vessel) if math.isfinite(vessel) else 0.0, **given
    )
    summary = sar_all(
        *curve,
        heat_capacity_J_per_K=float(C),
        iron_mass_g=float(iron),
        t_on_s=t_on,
        t_off_s=t_off if math.isfinite(t_off) else None,
        field_A_m=float(field) * 1e3 if field else None,
        frequency_Hz=float(freq) if freq else None,
        uncertainty=unc,
    )
    return summary, t_on, t_off


def _box_lucas(x: np.ndarray, T0: float, s: float, B: float) -> np.ndarray:
    """T0 + (s/B)(1 - exp(-B x)) (-> T0 + s x as B -> 0), K."""
    bx = B * x
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.where(np.abs(bx) < 1e-9, 1.0 - 0.5 * bx, -np.expm1(-bx) / bx)
    return T0 + s * x * phi


def sar_figure(data: RunData) -> Figure | None:
    """Heating curve with the initial-slope line and the Box-Lucas fit (and the three
    SAR values) for a ``sar_measurement`` run."""
    found = recompute_sar(data)
    if found is None:
        return None
    summary, t_on, t_off = found
    t, T = _curve(data)
    fig = new_figure()
    ax = fig.add_subplot()
    x = t - t_on
    ax.plot(x, T, ".", ms=2.5, color="tab:red", label="sample temperature")
    ax.axvline(0, color="tab:purple", lw=0.8, ls="--", label="field on")
    if math.isfinite(t_off):
        ax.axvline(t_off - t_on, color="tab:blue", lw=0.8, ls="--", label="field off")
    heat_end = (t_off - t_on) if math.isfinite(t_off) else x[-1]
    init = summary.initial_slope
    if init is not None:
        w = float(init.details.get("window_s", 30.0))
        xs = np.linspace(0, min(w, heat_end), 20)
        xl = np.linspace(0, min(4 * w, heat_end), 50)
        T_on = float(init.details.get("T_on_C", T[np.argmin(abs(x))]))
        ax.plot(xl, T_on + init.slope_K_per_s * xl, color="black", lw=0.8, ls=":")
        ax.plot(
            xs,
            T_on + init.slope_K_per_s * xs,
            color="black",
            lw=2.2,
            label=f"initial slope ({w:g} s): {init.sar_W_per_g:.1f} W/g Fe",
        )
    bl = summary.box_lucas
    if bl is not None:
        xb = np.linspace(0, heat_end, 200)
        ax.plot(
            xb,
            _box_lucas(xb, bl.details["T0_C"], bl.slope_K_per_s, bl.details["B_per_s"]),
            color="tab:green",
            lw=1.8,
            label=f"Box-Lucas fit: {bl.sar_W_per_g:.1f} +/- {bl.sar_u95_W_per_g:.1f} W/g Fe (95 %)",
        )
    cs = summary.corrected_slope
    lines = [
        f"{r.method.replace('_', ' ')}: {r.sar_W_per_g:.1f} W/g Fe"
        + (f", ILP {r.ilp_nH_m2_per_kg_Fe:.2f} nH m^2/kg Fe" if r.ilp_nH_m2_per_kg_Fe else "")
        for r in (init, cs, bl)
        if r is not None
    ]
    lines += [f"{k}: {v}" for k, v in summary.errors.items()]
    ax.text(
        0.99,
        0.03,
        "\n".join(lines),
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=8,
        bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "0.8"},
    )
    f_hz, h = data.start.get("frequency_Hz"), data.start.get("field_kA_m")
    cond = f" ({f_hz / 1e3:g} kHz, {h:g} kA/m)" if f_hz and h else ""
    ax.set_title(f"SAR: heating curve, initial slope and Box-Lucas fit{cond}")
    ax.set_xlabel("time after field on (s)")
    ax.set_ylabel("temperature (C)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def recompute_pce(data: RunData):
    """``PCEResult`` of the stored curve and the laser on/off times (or ``None``)."""
    if data.start.get("plan_name") != "photothermal_conversion":
        return None
    curve = _curve(data)
    args = data.start.get("plan_args") or {}
    t_on, t_off = data.command_edges()
    C = data.start.get("heat_capacity_J_per_K")
    if curve is None or not math.isfinite(t_off) or not C or not args.get("power"):
        return None
    if args.get("solvent_only") or not args.get("absorbance"):
        return None
    blank = args.get("blank") or None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the run's analysis states it
        result = photothermal_efficiency(
            *curve,
            laser_off_s=t_off,
            laser_on_s=t_on,
            power_W=float(args["power"]),
            absorbance=float(args["absorbance"]),
            heat_capacity_J_per_K=float(C),
            q_dis_W=0.0 if blank else float(args.get("q_dis") or 0.0),
            q_dis_std_W=0.0 if blank else float(args.get("q_dis_std") or 0.0),
            blank=BlankResult(
                float(blank["delta_T_C"]), float(blank["delta_T_std_C"]), float(blank["power_W"])
            )
            if blank
            else None,
            inputs=PCEInputs(**(args.get("inputs") or {})),
            storage_correction=bool(args.get("storage_correction")),
        )
    return result, t_on, t_off


def pce_figure(data: RunData) -> Figure | None:
    """Heating/cooling curve with T_max and T_surr, and the cooling fit
    -ln(theta) = (t - t_off) / tau (Roper) for a ``photothermal_conversion`` run."""
    try:
        found = recompute_pce(data)
    except ValueError:
        found = None
    if found is None:
        return None
    r, t_on, t_off = found
    t, T = _curve(data)
    fig = new_figure(width=11, height=4.6)
    a, b = fig.subplots(1, 2, width_ratios=[1.3, 1])
    x = (t - t_on) / 60.0
    a.plot(x, T, color="tab:red", lw=1.0, label="sample temperature")
    a.axvspan(0, (t_off - t_on) / 60.0, color="tab:green", alpha=0.08, label="laser on")
    a.axhline(r.T_max_C, color="black", ls="--", lw=0.8, label=f"T_max {r.T_max_C:.2f} C")
    a.axhline(r.T_surr_C, color="tab:gray", ls=":", lw=0.8, label=f"T_surr {r.T_surr_C:.2f} C")
    a.set_xlabel("time after laser on (min)")
    a.set_ylabel("temperature (C)")
    a.set_title("Heating to a plateau and cooling")
    a.grid(alpha=0.3)
    a.legend(loc="upper right", fontsize=8)
    cool = t > t_off
    theta = (T[cool] - r.T_surr_C) / (r.T_max_C - r.T_surr_C)
    keep = theta > 0.02
    xc = t[cool][keep] - t_off
    b.plot(xc, -np.log(theta[keep]), ".", ms=2.5, color="tab:blue", label="-ln(theta), cooling")
    # the fitted range (skip 2 s, until theta first drops below 0.1) and the weighted
    # least-squares intercept for the fitted slope -1/tau (weights theta^2, as fitted)
    below = np.flatnonzero(theta < 0.1)
    fitted = (xc >= 2.0) & (np.arange(xc.size) < (below[0] if below.size else xc.size))
    w = theta[keep][fitted] ** 2
    c = (
        float(np.sum(w * (np.log(theta[keep][fitted]) + xc[fitted] / r.tau_s)) / np.sum(w))
        if w.size
        else 0.0
    )
    fit_x = np.linspace(0, xc[fitted][-1] if w.size else r.tau_s * 2.3, 50)
    b.plot(
        fit_x,
        fit_x / r.tau_s - c,
        color="black",
        lw=1.5,
        label=f"fit: tau = {r.tau_s:.0f} s, hS = {r.hS_W_per_K * 1e3:.1f} mW/K",
    )
    b.axhline(-np.log(0.1), color="tab:gray", ls=":", lw=0.8, label="fit range end (theta 0.1)")
    b.set_xlabel("time after laser off (s)")
    b.set_ylabel("-ln(theta)")
    b.set_title(f"Cooling fit: eta = {r.eta:.3f} +/- {r.eta_u95:.3f} (95 %)")
    b.grid(alpha=0.3)
    b.legend(loc="upper left", fontsize=8)
    wl = data.start.get("wavelength_nm")
    fig.suptitle(
        "Photothermal conversion efficiency (Roper)"
        + (f", {wl:g} nm" if isinstance(wl, int | float) else "")
    )
    return fig
