"""Report figures of a run's traces: temperatures, field or laser power, CEM43.

Each function takes a :class:`~labctl.report.data.RunData` and returns a matplotlib
``Figure`` (no pyplot: safe headless and in threads) or ``None`` when the run has
nothing to show for it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from labctl.analysis.dose import CEM43_DAMAGE_MIN, CEM43_NECROSIS_MIN, cem43_cumulative
from labctl.report.data import CALORIMETRY_PLANS, RunData

if TYPE_CHECKING:  # matplotlib is optional (the plot extra): imported when drawing
    from matplotlib.figure import Figure

__all__ = ["temperature_figure", "output_figure", "cem43_figure", "TimeAxis", "new_figure"]

COLORS = {
    "tumor": "tab:red",
    "skin": "tab:orange",
    "rectal": "tab:blue",
    "reference": "tab:gray",
    "sample": "tab:red",
    "ambient": "tab:gray",
}


def new_figure(width: float = 9.0, height: float = 4.8, **kw) -> Figure:
    """A matplotlib ``Figure`` without pyplot (no GUI backend, no global state)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained", **kw)


class TimeAxis:
    """Seconds or minutes after ``t0``, whichever reads better for the run's length."""

    def __init__(self, t0: float, span_s: float) -> None:
        self.t0 = t0
        self.scale, self.label = (60.0, "time (min)") if span_s > 1200 else (1.0, "time (s)")

    def __call__(self, t) -> np.ndarray:
        return (np.asarray(t, float) - self.t0) / self.scale


def _span(data: RunData) -> float:
    ends = [
        s.t[-1] for k in data.thermometer_keys if (s := data.series(k)) is not None and s.t.size
    ]
    return (max(ends) - data.t0) if ends else 0.0


def _shade(ax, data: RunData, tx: TimeAxis) -> None:
    colors = {"field on": "tab:purple", "laser on": "tab:green"}
    seen = set()
    for label, t_on, t_off in data.energized_intervals():
        ax.axvspan(
            tx(t_on),
            tx(t_off),
            color=colors.get(label, "tab:olive"),
            alpha=0.12,
            label=None if label in seen else label,
        )
        seen.add(label)
    for i, (t, _msg) in enumerate(data.trips):
        ax.axvline(tx(t), color="red", lw=2, label="safety trip" if i == 0 else None)


def temperature_figure(data: RunData) -> Figure | None:
    """Every thermometer channel against time, with setpoint, target and limits."""
    keys = data.thermometer_keys
    if not keys:
        return None
    tx = TimeAxis(data.t0, _span(data))
    fig = new_figure()
    ax = fig.add_subplot()
    lo, hi = math.inf, -math.inf
    for k in keys:
        s = data.series(k)
        if s is None:
            continue
        role = data.role(k)
        ax.plot(
            tx(s.t),
            s.values,
            lw=1.4 if k == data.control_key else 1.0,
            color=COLORS.get(role),
            label=role,
        )
        finite = s.values[np.isfinite(s.values)]
        if finite.size:
            lo, hi = min(lo, finite.min()), max(hi, finite.max())
    sp_key = data.key_ending("_setpoint", units="degC")
    sp = data.series(sp_key) if sp_key else None
    if sp is not None and np.isfinite(sp.values).any():
        ax.plot(tx(sp.t), sp.values, color="black", lw=1.0, ls="--", label="setpoint")
    target = data.start.get("target_C")
    if isinstance(target, int | float):
        ax.axhline(target, color="black", lw=0.8, ls=":", label=f"target {target:g} C")
        hi = max(hi, target)
    if not math.isfinite(lo):
        lo, hi = 20.0, 40.0
    span = max(hi - lo, 1.0)
    notes = []
    roles = {data.role(k) for k in keys}
    for role, limit in sorted(data.temperature_limits.items()):
        if role not in roles:
            continue
        if limit <= hi + 0.5 * span:
            ax.axhline(
                limit,
                color=COLORS.get(role, "red"),
                lw=1.2,
                ls="-.",
                label=f"limit {role} {limit:g} C",
            )
            hi = max(hi, limit)
        else:
            notes.append(f"{role} {limit:g} C")
    _shade(ax, data, tx)
    ax.set_ylim(lo - 0.05 * span, hi + 0.08 * span)
    ax.set_xlabel(tx.label)
    ax.set_ylabel("temperature (C)")
    ax.set_title(
        f"Temperatures: {data.start.get('plan_name', 'run')} {data.start.get('uid', '')[:8]}"
    )
    if notes:
        ax.text(
            0.99,
            0.02,
            "limits off scale: " + ", ".join(notes),
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=8,
            color="0.3",
        )
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8, ncol=2)
    return fig


def output_figure(data: RunData) -> Figure | None:
    """AMF field (readback and command) or laser power and irradiance against time."""
    field = data.series(data.key_ending("_field", units="kA/m") or "")
    irradiance = data.key_ending("_irradiance")
    power = data.series(irradiance[: -len("irradiance")] + "power") if irradiance else None
    if field is None and power is None:
        return None
    tx = TimeAxis(data.t0, _span(data))
    fig = new_figure(height=4.2)
    ax = fig.add_subplot()
    command = data.series(data.key_ending("_command") or "")
    if field is not None:
        ax.plot(tx(field.t), field.values, color="tab:purple", lw=1.2, label="field (readback)")
        if command is not None and command.units == "kA/m":
            ax.step(
                tx(command.t),
                command.values,
                where="post",
                color="black",
                lw=0.8,
                ls="--",
                label="field command",
            )
        fmax = data.start.get("max_field_kA_m")
        if isinstance(fmax, int | float):
            ax.axhline(fmax, color="red", ls="-.", lw=1, label=f"max field {fmax:g} kA/m")
        f_hz = data.start.get("frequency_Hz")
        freq = f" at {f_hz / 1e3:g} kHz" if isinstance(f_hz, int | float) else ""
        ax.set_ylabel("field amplitude (kA/m, peak)")
        ax.set_title(f"AMF field{freq}")
    else:
        ax.plot(tx(power.t), power.values, color="tab:green", lw=1.2, label="laser power (monitor)")
        if command is not None and command.units == "W":
            ax.step(
                tx(command.t),
                command.values,
                where="post",
                color="black",
                lw=0.8,
                ls="--",
                label="power command",
            )
        area = data.start.get("spot_area_cm2")
        if isinstance(area, int | float) and area > 0:
            ax2 = ax.secondary_yaxis("right", functions=(lambda p: p / area, lambda i: i * area))
            ax2.set_ylabel("irradiance (W/cm^2)")
            cap = data.result("irradiance_max_W_cm2")
            if math.isfinite(cap):
                ax.axhline(
                    cap * area, color="red", ls="-.", lw=1, label=f"max irradiance {cap:g} W/cm^2"
                )
            mpe = data.start.get("skin_mpe_W_cm2")
            if isinstance(mpe, int | float) and math.isfinite(mpe):
                ax.axhline(
                    mpe * area, color="tab:orange", ls=":", lw=1, label=f"skin MPE {mpe:.2g} W/cm^2"
                )
        wl = data.start.get("wavelength_nm")
        ax.set_ylabel("laser power (W)")
        ax.set_title("Laser power" + (f" ({wl:g} nm)" if isinstance(wl, int | float) else ""))
    _shade(ax, data, tx)
    ax.set_xlabel(tx.label)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return fig


def cem43_figure(data: RunData) -> Figure | None:
    """Cumulative CEM43 of every channel (recomputed) and the plan's live value."""
    if data.start.get("plan_name") in CALORIMETRY_PLANS or not data.thermometer_keys:
        return None
    tx = TimeAxis(data.t0, _span(data))
    fig = new_figure(height=4.2)
    ax = fig.add_subplot()
    top = 0.0
    for k in data.thermometer_keys:
        s = data.series(k)
        if s is None or s.t.size < 2 or data.role(k) == "reference":
            continue
        dose = cem43_cumulative(s.t, s.values)
        top = max(top, float(dose[-1]))
        ax.plot(
            tx(s.t),
            dose,
            color=COLORS.get(data.role(k)),
            lw=1.2,
            label=f"{data.role(k)}: {dose[-1]:.3g} min",
        )
    live = data.series(data.key_ending("_cem43") or "")
    if live is not None and live.values.size:
        ax.plot(
            tx(live.t),
            live.values,
            color="black",
            ls="--",
            lw=0.9,
            label=f"live (plan, {data.role(data.control_key or '')})",
        )
    for level, name in ((CEM43_DAMAGE_MIN, "damage onset"), (CEM43_NECROSIS_MIN, "necrosis")):
        if level <= 1.5 * max(top, 1.0):
            ax.axhline(level, color="red", ls=":", lw=1, label=f"{name} {level:g} min")
    ax.set_xlabel(tx.label)
    ax.set_ylabel("CEM43 (min)")
    ax.set_title("Thermal dose: cumulative CEM43 (Sapareto-Dewey)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return fig
