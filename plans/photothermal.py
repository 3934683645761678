"""Photothermal plans: laser therapy (open or closed loop) and conversion efficiency.

Like the hyperthermia plans: all thermometer channels into ``baseline``, one
``primary`` event per step, results in ``analysis``; emission off on every exit path
(plan cleanup, and the laser's ``stop()``/``unstage()`` on pause, halt and abort).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from bluesky import preprocessors as bpp

from labctl.analysis.control import PID
from labctl.analysis.dose import CEM43Accumulator
from labctl.analysis.pce import BlankResult, PCEInputs, photothermal_efficiency, solvent_blank
from labctl.core.errors import ConfigError
from labctl.devices.laser import Laser
from labctl.devices.thermometer import FiberOpticThermometer
from labctl.plans.control_loop import (
    ConstantOutput,
    LoopSettings,
    LoopSummary,
    set_and_wait,
    temperature_loop,
)
from labctl.plans.state import PlanState, Results
from labctl.plans.stubs import (
    heat_capacity_from_sample,
    read_step,
    record_phase,
    require_valid,
    role_signal,
    save_results,
    switch_off,
    time_of,
    value_of,
    with_result,
)

__all__ = ["photothermal_therapy", "photothermal_conversion", "DEFAULT_PTT_GAINS"]

#: PID gains on the power fraction u = P / P_max (see DEFAULT_HYPERTHERMIA_GAINS).
DEFAULT_PTT_GAINS = {"kp": 0.08, "ki": 0.0012, "kd": 0.0}


def _ensure_emission(laser):
    def ensure_on(readings):
        entry = readings.get(laser.emission.name)
        if entry is not None and not entry["value"]:
            yield from set_and_wait(laser.emission, 1)

    return ensure_on


class _GuardedOutput:
    """The primary controller's power fraction, limited by a second probe's override
    controller (selector control with external reset feedback, Shinskey, "Process Control
    Systems", 1996): ``cap = kp (target - T_guard) + I``, where ``I`` follows the applied
    output with the reset time kp/ki.  Far below its target the guard allows more than is
    applied; at its target it holds the power; above, it lowers it.  The primary PID's
    upper limit follows the cap, so it does not wind up while limited."""

    def __init__(self, primary, signal, target_C: float, kp: float, ki: float) -> None:
        self.primary, self.signal, self.target_C = primary, signal, float(target_C)
        self.kp, self.reset_s = float(kp), float(kp / ki) if ki > 0 else math.inf
        self.T_guard = math.nan
        self.T_guard_max = -math.inf
        self.limited_s = 0.0
        self._I = 0.0
        self._t_prev: float | None = None
        self._limited = False

    @property
    def setpoint(self) -> float:
        return self.primary.setpoint

    @setpoint.setter
    def setpoint(self, value: float) -> None:
        self.primary.setpoint = value

    def observe(self, readings: dict) -> None:
        self.T_guard = require_valid(value_of(readings, self.signal), self.signal, "guard")
        self.T_guard_max = max(self.T_guard_max, self.T_guard)

    def update(self, measurement: float, t_s: float) -> float:
        cap = min(max(self.kp * (self.target_C - self.T_guard) + self._I, 0.0), 1.0)
        if isinstance(self.primary, PID):
            self.primary.output_limits = (0.0, max(cap, 1e-6))
        u = min(self.primary.update(measurement, t_s), cap)
        dt = 0.0 if self._t_prev is None else t_s - self._t_prev
        if self._limited:
            self.limited_s += dt
        self._I += (u - self._I) * -math.expm1(-dt / self.reset_s)
        self._limited = cap < 1.0 and u >= cap - 1e-9
        self._t_prev = t_s
        return u


class _ProbeDoses:
    """CEM43 (Sapareto & Dewey 1984) of every thermometer channel, min."""

    def __init__(self, thermo) -> None:
        roles = getattr(thermo, "roles", None)
        names = list(roles.values()) if isinstance(roles, dict) else []
        self.signals = {role: role_signal(thermo, role) for role in names}
        self.acc = {role: CEM43Accumulator() for role in names}
        self.T_max = dict.fromkeys(names, -math.inf)

    def observe(self, readings: dict) -> None:
        for role, sig in self.signals.items():
            T = value_of(readings, sig)
            if math.isfinite(T):
                self.acc[role].add(time_of(readings, sig), T)
                self.T_max[role] = max(self.T_max[role], T)

    def values(self) -> dict:
        out = {}
        for role, acc in self.acc.items():
            out[f"cem43_{role}_min"] = (acc.value_min, "min")
            out[f"T_max_{role}_C"] = (self.T_max[role], "degC")
        return out


def _ptt_settings(duration, target, hold, period, ramp_rate) -> LoopSettings:
    """Loop settings: open loop for ``duration``; closed loop for ``duration`` or ``hold``
    s at target (then ``duration`` caps the treatment, default hold + 3600 s)."""
    if target is None:
        return LoopSettings(target_C=math.inf, hold_s=duration, stop_on="duration", period_s=period)
    if hold is None:
        return LoopSettings(
            target_C=target,
            hold_s=duration,
            stop_on="duration",
            period_s=period,
            ramp_C_per_min=ramp_rate,
        )
    return LoopSettings(
        target_C=target,
        hold_s=hold,
        stop_on="time",
        period_s=period,
        ramp_C_per_min=ramp_rate,
        max_time_s=duration if duration is not None else hold + 3600.0,
    )


def _check_ptt_args(duration, irradiance, target, hold, period, guard) -> None:
    if (irradiance is None) == (target is None):
        raise ConfigError("give exactly one of irradiance (open loop) or target (closed loop)")
    if hold is not None and (target is None or not hold > 0):
        raise ConfigError(f"hold (s at target, > 0) needs a target; got hold={hold!r}")
    if duration is None and hold is None:
        raise ConfigError("give duration (s), or hold (s at target) in closed loop")
    if duration is not None and not duration > 0:
        raise ConfigError(f"duration must be > 0 s, got {duration!r}")
    if not period > 0:
        raise ConfigError(f"period must be > 0 s, got {period!r}")
    if guard is not None and not (
        isinstance(guard, dict) and set(guard) <= {"channel", "target"} and len(guard) == 2
    ):
        raise ConfigError(f"guard must be {{channel, target}}, got {guard!r}")


def photothermal_therapy(
    laser: Laser,
    thermo: FiberOpticThermometer,
    *,
    duration: float | None = None,
    irradiance: float | None = None,
    target: float | None = None,
    hold: float | None = None,
    channel: str = "tumor",
    guard: dict | None = None,
    max_irradiance: float | None = None,
    period: float = 1.0,
    ramp_rate: float | None = 1.0,
    gains: dict | None = None,
    md: dict | None = None,
):
    """Laser on for ``duration`` s at a fixed ``irradiance`` (W/cm^2, open loop), or
    holding ``channel`` at ``target`` (C) by driving the laser power under PID (closed
    loop, power up to ``max_irradiance`` W/cm^2 or the bench's cap) for ``duration`` s, or
    for ``hold`` s at target (``duration`` then caps the treatment).

    ``guard``: ``{channel, target}`` of a second probe (e.g. the skin) whose own PID
    limits the power as that probe approaches its target.  Every probe's CEM43 and
    maximum are recorded (``cem43_<role>_min``, ``T_max_<role>_C``).
    """
    _check_ptt_args(duration, irradiance, target, hold, period, guard)
    area = laser.spot_area_cm2
    limits = getattr(thermo, "limits", None) or laser.limits
    if irradiance is not None:
        laser.limits.check_laser(irradiance * area, area, where=laser.name)
        p_max = irradiance * area
    else:
        limits.check_temperature(channel, target)
        cap = laser.limits.max_laser_power_W(area)
        p_max = cap if max_irradiance is None else min(cap, max_irradiance * area)
        laser.limits.check_laser(p_max, area, where=laser.name)
    signal = role_signal(thermo, channel)
    g = {**DEFAULT_PTT_GAINS, **(gains or {})}
    if target is None:
        pid = ConstantOutput(1.0)  # open loop: the requested irradiance throughout
    else:
        pid = PID(g["kp"], g["ki"], g.get("kd", 0.0), target, output_limits=(0.0, 1.0))
    settings = _ptt_settings(duration, target, hold, period, ramp_rate)
    if guard is not None:
        limits.check_temperature(guard["channel"], guard["target"])
        guard_signal = role_signal(thermo, guard["channel"])
        pid = _GuardedOutput(pid, guard_signal, guard["target"], g["kp"], g["ki"])
    doses = _ProbeDoses(thermo)

    def observe(readings):
        doses.observe(readings)
        if guard is not None:
            pid.observe(readings)

    state = PlanState(clock=laser.clock, command_units="W", name="control")
    summary = LoopSummary()

    def command_for(u: float) -> float:
        return u * p_max

    def apply(power_W: float):
        yield from set_and_wait(laser.power, min(power_W, p_max))

    metadata = {
        "plan_name": "photothermal_therapy",
        "plan_args": {
            "duration": duration,
            "irradiance": irradiance,
            "target": target,
            "hold": hold,
            "channel": channel,
            "guard": dict(guard or {}),
            "max_irradiance": max_irradiance,
            "period": period,
            "ramp_rate": ramp_rate,
            "gains": g,
        },
        "mode": "open_loop" if target is None else "closed_loop",
        "control_channel": channel,
        "wavelength_nm": laser.wavelength_nm,
        "spot_area_cm2": area,
        "skin_mpe_W_cm2": laser.mpe_W_cm2,
        **(md or {}),
    }
    if target is not None:
        metadata["target_C"] = target

    def body():
        yield from read_step([thermo], stream="baseline")
        yield from set_and_wait(laser.power, command_for(1.0) if target is None else 0.0)
        yield from set_and_wait(laser.emission, 1)
        yield from temperature_loop(
            thermo,
            signal,
            [laser],
            state,
            pid,
            settings,
            command_for=command_for,
            apply=apply,
            ensure_on=_ensure_emission(laser),
            summary=summary,
            observe=observe,
        )
        yield from switch_off(laser)
        values = summary.values("W")
        values["irradiance_max_W_cm2"] = (p_max / area, "W/cm^2")
        values["skin_mpe_W_cm2"] = (laser.mpe_W_cm2, "W/cm^2")
        values.update(doses.values())
        if guard is not None:
            values["guard_limited_s"] = (pid.limited_s, "s")
            values["guard_T_max_C"] = (pid.T_guard_max, "degC")
        summary.probe_cem43_min = {k: a.value_min for k, a in doses.acc.items()}
        summary.guard_limited_s = pid.limited_s if guard is not None else 0.0
        yield from save_results(Results("photothermal", values, clock=laser.clock))

    plan = bpp.finalize_wrapper(body(), switch_off(laser))
    plan = bpp.stage_wrapper(plan, [thermo, laser])
    return with_result(bpp.run_wrapper(plan, md=metadata), lambda: summary)


def photothermal_conversion(
    laser: Laser,
    thermo: FiberOpticThermometer,
    *,
    power: float,
    heat_time: float,
    cool_time: float,
    sample: dict,
    absorbance: float | None = None,
    channel: str = "sample",
    baseline: float = 30.0,
    period: float = 1.0,
    q_dis: float = 0.0,
    q_dis_std: float = 0.0,
    blank: dict | None = None,
    solvent_only: bool = False,
    storage_correction: bool = False,
    inputs: dict | None = None,
    md: dict | None = None,
):
    """Photothermal conversion efficiency (Roper): laser at ``power`` W for ``heat_time``
    s (to a plateau), laser off, record cooling for ``cool_time`` s; eta +/- its budget
    from the cooling time constant, stored in the ``analysis`` stream.

    ``sample``: ``heat_capacity_J_per_K`` or ``components``; ``absorbance`` (base 10) of
    the sample at the laser wavelength.  The solvent and cuvette heat: ``blank``, the
    result of a ``solvent_only`` run of the solvent in the same cuvette
    (``{delta_T_C, delta_T_std_C, power_W}``, Roper's method), or ``q_dis`` +/-
    ``q_dis_std`` W.  ``storage_correction`` adds C dT/dt at laser-off (always reported;
    warned about when heating did not reach a plateau).  ``inputs``: uncertainties
    ``power_rel`` (0.03), ``heat_capacity_rel`` (0.01), ``absorbance_std`` (0.01).
    ``solvent_only=True`` measures a blank: plateau rise and its uncertainty, no eta.
    """
    for name, value in (("heat_time", heat_time), ("cool_time", cool_time)):
        if not value > 0:
            raise ConfigError(f"{name} must be > 0 s, got {value!r}")
    if not solvent_only and not (absorbance is not None and absorbance > 0):
        raise ConfigError(f"absorbance must be > 0, got {absorbance!r}")
    if not period > 0:
        raise ConfigError(f"period must be > 0 s, got {period!r}")
    blank_result = _blank(blank, q_dis)
    pce_inputs = _pce_inputs(inputs)
    C = heat_capacity_from_sample(sample)
    laser.limits.check_laser(power, laser.spot_area_cm2, where=laser.name)
    signal = role_signal(thermo, channel)
    state = PlanState(clock=laser.clock, command_units="W", name="control")
    series: list[tuple[float, float]] = []
    marks: dict = {}
    metadata = {
        "plan_name": "photothermal_conversion",
        "plan_args": {
            "power": power,
            "heat_time": heat_time,
            "cool_time": cool_time,
            "absorbance": absorbance,
            "channel": channel,
            "baseline": baseline,
            "period": period,
            "q_dis": q_dis,
            "q_dis_std": q_dis_std,
            "blank": dict(blank or {}),
            "solvent_only": solvent_only,
            "storage_correction": storage_correction,
            "inputs": dict(inputs or {}),
        },
        "sample": dict(sample),
        "heat_capacity_J_per_K": C,
        "wavelength_nm": laser.wavelength_nm,
        **(md or {}),
    }
    objs = [thermo, laser, state]

    def analyse():
        t = np.array([p[0] for p in series])
        T = np.array([p[1] for p in series])
        if solvent_only:
            r = solvent_blank(t, T, laser_off_s=marks["off"], laser_on_s=marks["on"], power_W=power)
            marks["result"] = r
            return Results("pce_blank", _blank_values(r), clock=laser.clock)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            result = photothermal_efficiency(
                t,
                T,
                laser_off_s=marks["off"],
                laser_on_s=marks["on"],
                power_W=power,
                absorbance=absorbance,
                heat_capacity_J_per_K=C,
                q_dis_W=0.0 if blank_result else q_dis,
                q_dis_std_W=0.0 if blank_result else q_dis_std,
                blank=blank_result,
                inputs=pce_inputs,
                storage_correction=storage_correction,
            )
        marks["result"] = result
        note = "; ".join(str(w.message) for w in caught)
        return Results("pce", _pce_values(result, note), clock=laser.clock)

    def body():
        yield from read_step([thermo], stream="baseline")
        state.record(setpoint=math.nan, command=0.0)
        yield from record_phase(
            objs,
            state,
            signal,
            duration_s=baseline or period,
            period_s=period,
            phase="baseline",
            series=series,
        )
        yield from set_and_wait(laser.power, power)
        yield from set_and_wait(laser.emission, 1)
        marks["on"] = laser.clock.now()
        state.record(command=power)
        yield from record_phase(
            objs, state, signal, duration_s=heat_time, period_s=period, phase="heat", series=series
        )
        yield from switch_off(laser)
        marks["off"] = laser.clock.now()
        state.record(command=0.0)
        yield from record_phase(
            objs, state, signal, duration_s=cool_time, period_s=period, phase="cool", series=series
        )
        yield from save_results(analyse())

    plan = bpp.finalize_wrapper(body(), switch_off(laser))
    plan = bpp.stage_wrapper(plan, [thermo, laser])
    return with_result(bpp.run_wrapper(plan, md=metadata), lambda: marks.get("result"))


def _blank(blank: dict | None, q_dis: float) -> BlankResult | None:
    """The blank run's result from the plan argument (ConfigError if malformed)."""
    if blank is None:
        return None
    if q_dis:
        raise ConfigError("give the solvent heat as blank or as q_dis, not both")
    try:
        return BlankResult(
            float(blank["delta_T_C"]), float(blank["delta_T_std_C"]), float(blank["power_W"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"blank must be {{delta_T_C, delta_T_std_C, power_W}} (finite numbers): {exc}"
        ) from exc


def _pce_inputs(inputs: dict | None) -> PCEInputs:
    try:
        return PCEInputs(**(inputs or {}))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"photothermal_conversion inputs: {exc}") from exc


def _blank_values(r: BlankResult) -> dict:
    return {
        "delta_T_C": (r.delta_T_C, "K"),
        "delta_T_std_C": (r.delta_T_std_C, "K"),
        "power_W": (r.power_W, "W"),
    }


def _pce_values(r, note: str) -> dict:
    """Analysis values of a PCE run: eta with its 95 % and standard uncertainties and the
    budget (percent by source), the fit, the blank and the plateau check."""
    values = {
        "eta": (r.eta, ""),
        "eta_u95": (r.eta_u95, ""),
        "eta_std": (r.eta_std, ""),
        "tau_s": (r.tau_s, "s"),
        "hS_W_per_K": (r.hS_W_per_K, "W/K"),
        "T_max_C": (r.T_max_C, "degC"),
        "T_surr_C": (r.T_surr_C, "degC"),
        "absorbed_power_W": (r.absorbed_power_W, "W"),
        "q_dis_W": (r.q_dis_W, "W"),
        "q_dis_std_W": (r.q_dis_std_W, "W"),
        "plateau_slope_K_per_min": (r.plateau_slope_K_per_s * 60.0, "K/min"),
        "storage_W": (r.storage_W, "W"),
        "storage_applied": (r.storage_applied, ""),
        "plateau_reached": (r.plateau_reached, ""),
        "r_squared": (r.r_squared, ""),
        "warning": (note, ""),
    }
    for source, share in r.budget.items():
        values[f"u_{source}_percent"] = (100.0 * share, "%")
    return values
