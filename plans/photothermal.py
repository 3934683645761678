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


def _ptt_max_power(laser, limits, channel, irradiance, target, max_irradiance) -> float:
    """Check the limits (nothing is sent on a violation): the laser power, W, at the full
    power fraction (the open loop's ``irradiance``, or the closed loop's cap)."""
    area = laser.spot_area_cm2
    if irradiance is not None:
        laser.limits.check_laser(irradiance * area, area, where=laser.name)
        return irradiance * area
    limits.check_temperature(channel, target)
    cap = laser.limits.max_laser_power_W(area)
    p_max = cap if max_irradiance is None else min(cap, max_irradiance * area)
    laser.limits.check_laser(p_max, area, where=laser.name)
    return p_max


def _ptt_controller(thermo, limits, target, guard, g: dict):
    """The power fraction's controller: constant (open loop) or PID on ``target``, under
    the ``guard`` probe's override when given (its target checked first)."""
    if target is None:
        pid = ConstantOutput(1.0)  # open loop: the requested irradiance throughout
    else:
        pid = PID(g["kp"], g["ki"], g.get("kd", 0.0), target, output_limits=(0.0, 1.0))
    if guard is not None:
        limits.check_temperature(guard["channel"], guard["target"])
        guard_signal = role_signal(thermo, guard["channel"])
        pid = _GuardedOutput(pid, guard_signal, guard["target"], g["kp"], g["ki"])
    return pid


def _observer(doses: _ProbeDoses, guarded: _GuardedOutput | None):
    """The loop's ``observe``: every probe's dose, and the guard probe when guarded."""

    def observe(readings):
        doses.observe(readings)
        if guarded is not None:
            guarded.observe(readings)

    return observe


def _power_control(laser, p_max: float):
    """The loop's ``command_for`` (power fraction to W) and ``apply`` (sets the power,
    never above ``p_max`` W)."""

    def command_for(u: float) -> float:
        return u * p_max

    def apply(power_W: float):
        yield from set_and_wait(laser.power, min(power_W, p_max))

    return command_for, apply


def _ptt_metadata(laser, plan_args: dict, md: dict | None) -> dict:
    """The therapy run's start metadata: arguments, mode, laser and its spot."""
    target = plan_args["target"]
    metadata = {
        "plan_name": "photothermal_therapy",
        "plan_args": plan_args,
        "mode": "open_loop" if target is None else "closed_loop",
        "control_channel": plan_args["channel"],
        "wavelength_nm": laser.wavelength_nm,
        "spot_area_cm2": laser.spot_area_cm2,
        "skin_mpe_W_cm2": laser.mpe_W_cm2,
        **(md or {}),
    }
    if target is not None:
        metadata["target_C"] = target
    return metadata


def _ptt_values(laser, summary, irradiance_max: float, doses, guarded) -> dict:
    """The therapy's ``analysis`` values (the loop summary, the irradiance cap, every
    probe's dose, the guard's record when ``guarded``); also notes doses in ``summary``."""
    values = summary.values("W")
    values["irradiance_max_W_cm2"] = (irradiance_max, "W/cm^2")
    values["skin_mpe_W_cm2"] = (laser.mpe_W_cm2, "W/cm^2")
    values.update(doses.values())
    if guarded is not None:
        values["guard_limited_s"] = (guarded.limited_s, "s")
        values["guard_T_max_C"] = (guarded.T_guard_max, "degC")
    summary.probe_cem43_min = {k: a.value_min for k, a in doses.acc.items()}
    summary.guard_limited_s = guarded.limited_s if guarded is not None else 0.0
    return values


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
    for ``hold`` s at target (``duration`` then caps the treatment).  ``period`` s between
    control steps; ``ramp_rate`` C/min for the closed loop's setpoint from the starting
    temperature (None: a step).

    ``guard``: ``{channel, target}`` of a second probe (e.g. the skin) whose own PID
    limits the power as that probe approaches its target.  Every probe's CEM43 and
    maximum are recorded (``cem43_<role>_min``, ``T_max_<role>_C``).
    """
    _check_ptt_args(duration, irradiance, target, hold, period, guard)
    area = laser.spot_area_cm2
    limits = getattr(thermo, "limits", None) or laser.limits
    p_max = _ptt_max_power(laser, limits, channel, irradiance, target, max_irradiance)
    signal = role_signal(thermo, channel)
    g = {**DEFAULT_PTT_GAINS, **(gains or {})}
    settings = _ptt_settings(duration, target, hold, period, ramp_rate)
    pid = _ptt_controller(thermo, limits, target, guard, g)
    guarded = pid if guard is not None else None
    doses = _ProbeDoses(thermo)
    state = PlanState(clock=laser.clock, command_units="W", name="control")
    summary = LoopSummary()
    command_for, apply = _power_control(laser, p_max)
    plan_args = {
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
    }
    metadata = _ptt_metadata(laser, plan_args, md)

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
            observe=_observer(doses, guarded),
        )
        yield from switch_off(laser)
        values = _ptt_values(laser, summary, p_max / area, doses, guarded)
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
    """Photothermal conversion efficiency (Roper): ``baseline`` s with the laser off, laser
    at ``power`` W for ``heat_time`` s (to a plateau), laser off, record cooling for
    ``cool_time`` s (a reading every ``period`` s); eta +/- its budget from the cooling
    time constant, stored in the ``analysis`` stream.

    ``sample``: ``heat_capacity_J_per_K`` or ``components``; ``absorbance`` (dimensionless,
    base 10) of the sample at the laser wavelength.  The solvent and cuvette heat:
    ``blank``, the result of a ``solvent_only`` run of the solvent in the same cuvette
    (``{delta_T_C, delta_T_std_C, power_W}``, Roper's method), or ``q_dis`` W +/-
    ``q_dis_std`` W.  ``storage_correction`` adds C dT/dt at laser-off (always reported;
    warned about when heating did not reach a plateau).  ``inputs``: uncertainties
    ``power_rel`` (0.03), ``heat_capacity_rel`` (0.01), ``absorbance_std`` (0.01).
    ``solvent_only=True`` measures a blank: plateau rise and its uncertainty, no eta.
    """
    _check_pce_args(heat_time, cool_time, absorbance, period, solvent_only)
    blank_result = _blank(blank, q_dis)
    pce_inputs = _pce_inputs(inputs)
    C = heat_capacity_from_sample(sample)
    laser.limits.check_laser(power, laser.spot_area_cm2, where=laser.name)
    signal = role_signal(thermo, channel)
    state = PlanState(clock=laser.clock, command_units="W", name="control")
    series: list[tuple[float, float]] = []
    marks: dict = {}
    plan_args = {
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
    }
    metadata = {
        "plan_name": "photothermal_conversion",
        "plan_args": plan_args,
        "sample": dict(sample),
        "heat_capacity_J_per_K": C,
        "wavelength_nm": laser.wavelength_nm,
        **(md or {}),
    }
    phases = {"baseline": baseline or period, "heat": heat_time, "cool": cool_time}

    def body():
        yield from read_step([thermo], stream="baseline")
        yield from _pce_phases(laser, thermo, state, signal, power, phases, period, series, marks)
        results = _analyse_pce(series, marks, plan_args, C, blank_result, pce_inputs, laser.clock)
        yield from save_results(results)

    plan = bpp.finalize_wrapper(body(), switch_off(laser))
    plan = bpp.stage_wrapper(plan, [thermo, laser])
    return with_result(bpp.run_wrapper(plan, md=metadata), lambda: marks.get("result"))


def _check_pce_args(heat_time, cool_time, absorbance, period, solvent_only) -> None:
    for name, value in (("heat_time", heat_time), ("cool_time", cool_time)):
        if not value > 0:
            raise ConfigError(f"{name} must be > 0 s, got {value!r}")
    if not solvent_only and not (absorbance is not None and absorbance > 0):
        raise ConfigError(f"absorbance must be > 0, got {absorbance!r}")
    if not period > 0:
        raise ConfigError(f"period must be > 0 s, got {period!r}")


def _pce_phases(laser, thermo, state, signal, power, phases: dict, period, series, marks):
    """Baseline with the laser off, laser on at ``power`` W for the heating, laser off for
    the cooling (durations s in ``phases``); keeps (t, T) in ``series`` and the laser
    on/off times in ``marks``."""
    objs = [thermo, laser, state]

    def phase(name: str):
        yield from record_phase(
            objs, state, signal, duration_s=phases[name], period_s=period, phase=name, series=series
        )

    state.record(setpoint=math.nan, command=0.0)
    yield from phase("baseline")
    yield from set_and_wait(laser.power, power)
    yield from set_and_wait(laser.emission, 1)
    marks["on"] = laser.clock.now()
    state.record(command=power)
    yield from phase("heat")
    yield from switch_off(laser)
    marks["off"] = laser.clock.now()
    state.record(command=0.0)
    yield from phase("cool")


def _analyse_pce(series, marks: dict, args: dict, C: float, blank_result, pce_inputs, clock):
    """The ``analysis`` of a PCE run from the recorded (t, T) ``series``, the laser on/off
    times in ``marks`` and the run's ``plan_args`` ``args``: the blank's plateau rise with
    ``solvent_only``, else eta; the result is kept in ``marks``."""
    t = np.array([p[0] for p in series])
    T = np.array([p[1] for p in series])
    if args["solvent_only"]:
        r = solvent_blank(
            t, T, laser_off_s=marks["off"], laser_on_s=marks["on"], power_W=args["power"]
        )
        marks["result"] = r
        return Results("pce_blank", _blank_values(r), clock=clock)
    result, note = _efficiency(t, T, marks, args, C, blank_result, pce_inputs)
    marks["result"] = result
    return Results("pce", _pce_values(result, note), clock=clock)


def _efficiency(t, T, marks: dict, args: dict, C: float, blank_result, pce_inputs):
    """eta from the recorded (t, T) and the laser on/off times in ``marks``, with the run's
    ``plan_args`` ``args``; the result and the RuntimeWarnings raised, joined."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        result = photothermal_efficiency(
            t,
            T,
            laser_off_s=marks["off"],
            laser_on_s=marks["on"],
            power_W=args["power"],
            absorbance=args["absorbance"],
            heat_capacity_J_per_K=C,
            q_dis_W=0.0 if blank_result else args["q_dis"],
            q_dis_std_W=0.0 if blank_result else args["q_dis_std"],
            blank=blank_result,
            inputs=pce_inputs,
            storage_correction=args["storage_correction"],
        )
    return result, "; ".join(str(w.message) for w in caught)


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
