"""Magnetic hyperthermia plans: SAR calorimetry and closed-loop temperature control.

Both plans read every thermometer channel once into ``baseline``, record each step as
one event of ``primary`` (thermometer channels, generator readbacks, and the plan's
setpoint/command/CEM43/phase), and store their analysis as the one event of an
``analysis`` stream.  The field is switched off on every exit path: plan cleanup
(``finalize_wrapper``) and the generator's ``stop()``/``unstage()``, which the
RunEngine calls on pause, halt and abort.
"""

from __future__ import annotations

import math

import numpy as np
from bluesky import Msg
from bluesky import preprocessors as bpp

from labctl.analysis.control import PID, field_for_power_fraction
from labctl.analysis.dose import volume_dose
from labctl.analysis.sar import CalorimetryUncertainty, sar_all
from labctl.core.errors import ConfigError
from labctl.devices.amf import AMFGenerator
from labctl.devices.temperature_map import TemperatureMap
from labctl.devices.thermometer import FiberOpticThermometer
from labctl.plans.control_loop import LoopSettings, LoopSummary, set_and_wait, temperature_loop
from labctl.plans.state import PlanState, Results
from labctl.plans.stubs import (
    heat_capacity_from_sample,
    read_step,
    record_phase,
    role_signal,
    save_results,
    switch_off,
    with_result,
)

__all__ = ["magnetic_hyperthermia", "sar_measurement", "DEFAULT_HYPERTHERMIA_GAINS"]

#: PID gains on the power fraction u = (H / H_max)^2: kp in 1/K, ki in 1/(K s), kd in
#: s/K (see labctl.analysis.control).  Tuned for the simulated flank tumor, which answers
#: a step in u with a gain of ~13 K, a time constant of ~150 s and ~5 s of dead time.
DEFAULT_HYPERTHERMIA_GAINS = {"kp": 0.08, "ki": 0.0012, "kd": 0.0}


def _check_period(period: float) -> None:
    if not period > 0:
        raise ConfigError(f"period must be > 0 s, got {period!r}")


def _amf_setup(amf, frequency: float, field_kA_m: float):
    """Validate first (nothing is sent on a violation), then select the tank and field."""
    amf.limits.check_amf(frequency, field_kA_m, where=amf.name)
    check = getattr(amf, "check_frequency", None)
    if check is not None:
        check(frequency)


def _ensure_amf_on(amf):
    def ensure_on(readings):
        entry = readings.get(amf.output.name)
        if entry is not None and not entry["value"]:
            yield from set_and_wait(amf.output, 1)

    return ensure_on


def _recording_map(ensure_on, tumor_map, series: list):
    """``ensure_on`` that also keeps each step's (t, T90, T50, Tmax) of ``tumor_map``."""

    def step(readings):
        _keep_map_reading(readings, tumor_map, series)
        yield from ensure_on(readings)

    return step


def _keep_map_reading(readings: dict, tumor_map, series: list) -> None:
    entries = [readings.get(s.name) for s in (tumor_map.T90, tumor_map.T50, tumor_map.Tmax)]
    if all(e is not None for e in entries):
        t = entries[0]["timestamp"]
        if not series or series[-1][0] < t:
            series.append((t, *(float(e["value"]) for e in entries)))


def _hyperthermia_settings(
    target, hold, stop_on, cem43_target, period, ramp_rate, max_time
) -> LoopSettings:
    """Loop settings: ``hold`` s at target or up to ``cem43_target`` min; ``max_time``
    (default hold + 3600 s) caps the run."""
    return LoopSettings(
        target_C=target,
        hold_s=hold,
        stop_on=stop_on,
        cem43_target_min=cem43_target,
        period_s=period,
        ramp_C_per_min=ramp_rate,
        max_time_s=max_time if max_time is not None else hold + 3600.0,
    )


def _step_hook(amf, tumor_map, volume: list):
    """``ensure_on`` of the closed loop: the output back on, and with a ``tumor_map``
    each step's map statistics kept in ``volume``."""
    ensure_on = _ensure_amf_on(amf)
    if tumor_map is not None:
        ensure_on = _recording_map(ensure_on, tumor_map, volume)
    return ensure_on


def _field_control(amf, max_field: float):
    """The loop's ``command_for`` (power fraction to field, kA/m, up to ``max_field``)
    and ``apply`` (sets the field, never above ``max_field``)."""
    field_max_A_m = max_field * 1e3

    def command_for(u: float) -> float:
        return field_for_power_fraction(u, field_max_A_m) / 1e3

    def apply(field_kA_m: float):
        yield from set_and_wait(amf.field, min(field_kA_m, max_field))

    return command_for, apply


def _output_on_at_zero_field(amf, frequency: float):
    """Field to zero, select the tank at ``frequency``, output on."""
    yield from set_and_wait(amf.field, 0.0)
    yield from set_and_wait(amf.frequency, frequency)
    yield from set_and_wait(amf.output, 1)


def _save_hyperthermia_results(amf, summary, cem43_target, tumor_map, volume: list):
    """The closed-loop run's ``analysis``: the loop summary, and the tumor's dose."""
    values = summary.values("kA/m")
    values["cem43_target_min"] = (cem43_target if cem43_target else math.nan, "min")
    if tumor_map is not None:  # the last step's map (read at the stop, not yet kept)
        _keep_map_reading((yield Msg("read", tumor_map)), tumor_map, volume)
        values.update(_volume_values(volume, summary, tumor_map))
    yield from save_results(Results("hyperthermia", values, clock=amf.clock))


def _volume_values(series: list, summary: LoopSummary, tumor_map) -> dict:
    """The tumor's dose (T90, T50, CEM43T90, CEM43T50, Arrhenius) for the analysis."""
    if len(series) < 2:
        return {}
    t, T90, T50, Tmax = (np.array(c) for c in zip(*series, strict=True))
    hold = summary.t_reached if math.isfinite(summary.t_reached) else None
    d = volume_dose(t, T90, T50, Tmax, hold_from_s=hold)
    return {
        "T90_C": (d["T90_C"], "degC"),
        "T50_C": (d["T50_C"], "degC"),
        "cem43_T90_min": (d["cem43_T90_min"], "min"),
        "cem43_T50_min": (d["cem43_T50_min"], "min"),
        "arrhenius_omega_T90": (d["arrhenius_omega_T90"], ""),
        "arrhenius_omega_max": (d["arrhenius_omega_max"], ""),
        "tumor_map_source": (str(tumor_map.source.get()), ""),
    }


def _check_stop(stop_on: str, hold: float, cem43_target: float | None) -> None:
    if stop_on not in ("time", "cem43"):
        raise ConfigError(f"stop_on must be 'time' or 'cem43', got {stop_on!r}")
    if stop_on == "cem43" and not (cem43_target and cem43_target > 0):
        raise ConfigError("stop_on='cem43' needs cem43_target > 0 (minutes)")
    if not hold > 0 and stop_on == "time":
        raise ConfigError(f"hold must be > 0 s, got {hold!r}")


def _hyperthermia_metadata(plan_args: dict, md: dict | None) -> dict:
    """The run's start metadata from the closed-loop plan's ``plan_args``."""
    return {
        "plan_name": "magnetic_hyperthermia",
        "plan_args": plan_args,
        "control_channel": plan_args["channel"],
        "target_C": plan_args["target"],
        "frequency_Hz": plan_args["frequency"],
        "max_field_kA_m": plan_args["max_field"],
        "hints": {"dimensions": [(["time"], "primary")]},
        **(md or {}),
    }


def magnetic_hyperthermia(
    amf: AMFGenerator,
    thermo: FiberOpticThermometer,
    *,
    target: float,
    hold: float,
    frequency: float,
    max_field: float,
    channel: str = "tumor",
    stop_on: str = "time",
    cem43_target: float | None = None,
    period: float = 1.0,
    ramp_rate: float | None = 1.0,
    gains: dict | None = None,
    max_time: float | None = None,
    tumor_map: TemperatureMap | None = None,
    md: dict | None = None,
):
    """Heat ``channel`` to ``target`` (C) and hold it by driving the field under PID.

    Parameters: ``hold`` s at target (counted from the first reading >= target) with
    ``stop_on="time"``, or until the live CEM43 reaches ``cem43_target`` min with
    ``stop_on="cem43"``; ``frequency`` Hz (one of the generator's tanks);
    ``max_field`` kA/m, never exceeded (and checked against the bench's H*f limit before
    anything is sent); ``ramp_rate`` C/min for the setpoint from the starting temperature
    (None: a step); ``period`` s between control steps; ``gains`` kp/ki/kd on the power
    fraction; ``max_time`` s caps the run (default: ``hold`` + 3600 s).
    ``tumor_map``: a :class:`~labctl.devices.temperature_map.TemperatureMap` of the
    tumor, read every step; the analysis then has the tumor's T90, T50 (averaged over
    the hold), CEM43T90, CEM43T50 and Arrhenius damage beside the probe's ``cem43_min``.
    """
    _check_stop(stop_on, hold, cem43_target)
    _check_period(period)
    _amf_setup(amf, frequency, max_field)
    (getattr(thermo, "limits", None) or amf.limits).check_temperature(channel, target)
    signal = role_signal(thermo, channel)
    g = {**DEFAULT_HYPERTHERMIA_GAINS, **(gains or {})}
    pid = PID(g["kp"], g["ki"], g.get("kd", 0.0), target, output_limits=(0.0, 1.0))
    settings = _hyperthermia_settings(
        target, hold, stop_on, cem43_target, period, ramp_rate, max_time
    )
    state = PlanState(clock=amf.clock, command_units="kA/m", name="control")
    summary = LoopSummary()
    volume: list[tuple[float, float, float, float]] = []
    command_for, apply = _field_control(amf, max_field)
    plan_args = {
        "target": target,
        "hold": hold,
        "frequency": frequency,
        "max_field": max_field,
        "channel": channel,
        "stop_on": stop_on,
        "cem43_target": cem43_target,
        "period": period,
        "ramp_rate": ramp_rate,
        "gains": g,
    }
    metadata = _hyperthermia_metadata(plan_args, md)

    def body():
        yield from read_step([thermo], stream="baseline")
        yield from _output_on_at_zero_field(amf, frequency)
        yield from temperature_loop(
            thermo,
            signal,
            [amf] if tumor_map is None else [amf, tumor_map],
            state,
            pid,
            settings,
            command_for=command_for,
            apply=apply,
            ensure_on=_step_hook(amf, tumor_map, volume),
            summary=summary,
        )
        yield from switch_off(amf)
        yield from _save_hyperthermia_results(amf, summary, cem43_target, tumor_map, volume)

    plan = bpp.finalize_wrapper(body(), switch_off(amf))
    plan = bpp.stage_wrapper(plan, [thermo, amf])
    return with_result(bpp.run_wrapper(plan, md=metadata), lambda: summary)


def sar_measurement(
    amf: AMFGenerator,
    thermo: FiberOpticThermometer,
    *,
    frequency: float,
    field: float,
    heat_time: float,
    cool_time: float,
    sample: dict,
    channel: str = "sample",
    equilibrate: float = 60.0,
    baseline: float = 30.0,
    period: float = 0.5,
    uncertainty: dict | None = None,
    md: dict | None = None,
):
    """Calorimetric SAR: equilibrate, baseline, field on for ``heat_time`` s, field off,
    record cooling for ``cool_time`` s; SAR by initial slope, corrected slope and
    Box-Lucas, with ILP per kg Fe and each method's uncertainty budget and known bias,
    stored in the run's ``analysis`` stream.

    ``sample``: ``heat_capacity_J_per_K`` or ``components`` (masses and specific heats;
    mark the container ``vessel: true``, its lag enters the budget), and ``iron_mass_mg``
    (or ``iron_mass_g``); other keys (name, batch...) are recorded.  ``frequency`` Hz,
    ``field`` kA/m peak, ``period`` s between readings.  ``uncertainty``: relative
    standard uncertainties ``heat_capacity_rel`` (0.02), ``iron_mass_rel`` (0.04),
    ``field_rel`` (0.05).
    """
    _check_sar_times(heat_time, cool_time, equilibrate, baseline, period)
    C, iron_g, unc = _sar_inputs(amf, frequency, field, sample, uncertainty)
    signal = role_signal(thermo, channel)
    state = PlanState(clock=amf.clock, command_units="kA/m", name="control")
    series: list[tuple[float, float]] = []
    marks: dict[str, float] = {}
    plan_args = {
        "frequency": frequency,
        "field": field,
        "heat_time": heat_time,
        "cool_time": cool_time,
        "channel": channel,
        "period": period,
        "equilibrate": equilibrate,
        "baseline": baseline,
        "uncertainty": dict(uncertainty or {}),
    }
    metadata = _sar_metadata(plan_args, sample, C, iron_g, md)
    objs = [thermo, amf, state]

    def phase(name: str, duration_s: float):
        yield from record_phase(
            objs, state, signal, duration_s=duration_s, period_s=period, phase=name, series=series
        )

    def body():
        yield from read_step([thermo], stream="baseline")
        yield from set_and_wait(amf.field, 0.0)
        yield from set_and_wait(amf.frequency, frequency)
        state.record(setpoint=math.nan, command=0.0)
        if equilibrate:
            yield from phase("equilibrate", equilibrate)
        yield from phase("baseline", baseline or period)
        yield from set_and_wait(amf.field, field)
        yield from set_and_wait(amf.output, 1)
        marks["on"] = amf.clock.now()
        state.record(command=field)
        yield from phase("heat", heat_time)
        yield from switch_off(amf)
        marks["off"] = amf.clock.now()
        state.record(command=0.0)
        if cool_time:
            yield from phase("cool", cool_time)
        result, values = _analyse_sar(series, marks, C, iron_g, field, frequency, unc)
        marks["result"] = result
        yield from save_results(Results("sar", values, clock=amf.clock))

    plan = bpp.finalize_wrapper(body(), switch_off(amf))
    plan = bpp.stage_wrapper(plan, [thermo, amf])
    return with_result(bpp.run_wrapper(plan, md=metadata), lambda: marks.get("result"))


def _check_sar_times(heat_time, cool_time, equilibrate, baseline, period) -> None:
    for name, value in (
        ("heat_time", heat_time),
        ("cool_time", cool_time),
        ("equilibrate", equilibrate),
        ("baseline", baseline),
    ):
        if not value >= 0 or (name == "heat_time" and value == 0):
            raise ConfigError(f"{name} must be a positive time in s, got {value!r}")
    _check_period(period)


def _sar_inputs(amf, frequency: float, field: float, sample: dict, uncertainty):
    """Validate the sample and the field (nothing is sent on a violation): the heat
    capacity (J/K), the iron mass (g) and the uncertainty budget's inputs."""
    C = heat_capacity_from_sample(sample)
    iron_g = _iron_mass_g(sample)
    _amf_setup(amf, frequency, field)
    return C, iron_g, _sar_uncertainty(sample, uncertainty)


def _iron_mass_g(sample: dict) -> float:
    """The sample's iron mass, g, from ``iron_mass_mg`` or ``iron_mass_g``."""
    if "iron_mass_mg" in sample:
        iron_g = float(sample["iron_mass_mg"]) / 1e3
    elif "iron_mass_g" in sample:
        iron_g = float(sample["iron_mass_g"])
    else:
        raise ConfigError("sample needs the iron mass ('iron_mass_mg' or 'iron_mass_g')")
    if not iron_g > 0:
        raise ConfigError(f"sample iron mass must be > 0, got {iron_g} g")
    return iron_g


def _sar_metadata(plan_args: dict, sample: dict, C: float, iron_g: float, md) -> dict:
    """The SAR run's start metadata: arguments, sample, heat capacity, iron, field."""
    return {
        "plan_name": "sar_measurement",
        "plan_args": plan_args,
        "sample": dict(sample),
        "heat_capacity_J_per_K": C,
        "iron_mass_g": iron_g,
        "frequency_Hz": plan_args["frequency"],
        "field_kA_m": plan_args["field"],
        **(md or {}),
    }


def _analyse_sar(series, marks: dict, C, iron_g, field, frequency, unc):
    """SAR by every method from the recorded (t, T) ``series`` and the field on/off
    times in ``marks``; the result and the ``analysis`` values."""
    result = sar_all(
        np.array([p[0] for p in series]),
        np.array([p[1] for p in series]),
        heat_capacity_J_per_K=C,
        iron_mass_g=iron_g,
        t_on_s=marks["on"],
        t_off_s=marks["off"],
        field_A_m=field * 1e3,
        frequency_Hz=frequency,
        uncertainty=unc,
    )
    values = {
        "heat_capacity_J_per_K": (C, "J/K"),
        "vessel_heat_capacity_J_per_K": (unc.vessel_J_per_K, "J/K"),
        "iron_mass_g": (iron_g, "g"),
        "t_on": (marks["on"], "s"),
        "t_off": (marks["off"], "s"),
    }
    for method in ("initial_slope", "corrected_slope", "box_lucas"):
        values.update(_sar_values(method, getattr(result, method)))
    values["errors"] = ("; ".join(f"{k}: {v}" for k, v in result.errors.items()), "")
    return result, values


_BUDGET_SOURCES = ("fit", "heat_capacity", "vessel_lag", "iron_mass", "heat_loss")


def _sar_uncertainty(sample: dict, uncertainty: dict | None) -> CalorimetryUncertainty:
    """The SAR budget's inputs: ``uncertainty`` plus the heat capacity of the components
    marked ``vessel: true``."""
    allowed = {"heat_capacity_rel", "iron_mass_rel", "field_rel"}
    extra = set(uncertainty or {}) - allowed
    if extra:
        raise ConfigError(f"uncertainty keys {sorted(extra)} unknown; allowed: {sorted(allowed)}")
    vessel = sum(
        float(c["mass_g"]) * float(c["c_J_per_gK"])
        for c in sample.get("components", ())
        if isinstance(c, dict) and c.get("vessel")
    )
    try:
        return CalorimetryUncertainty(vessel_J_per_K=vessel, **(uncertainty or {}))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"sar_measurement uncertainty: {exc}") from exc


def _sar_values(method: str, r) -> dict:
    """Analysis values of one SAR method: value, 95 % and standard uncertainties, the fit's
    part, budget (percent by source), ILP per kg Fe with its 95 % uncertainty, bias."""
    nan = math.nan
    ilp = r.ilp_nH_m2_per_kg_Fe if r and r.ilp_nH_m2_per_kg_Fe is not None else nan
    ilp_u95 = r.ilp_u95_nH_m2_per_kg_Fe if r and r.ilp_u95_nH_m2_per_kg_Fe is not None else nan
    values = {
        f"{method}_W_per_g": (r.sar_W_per_g if r else nan, "W/g Fe"),
        f"{method}_u95_W_per_g": (r.sar_u95_W_per_g if r else nan, "W/g Fe"),
        f"{method}_std_W_per_g": (r.sar_u_W_per_g if r else nan, "W/g Fe"),
        f"{method}_fit_std_W_per_g": (r.sar_std_W_per_g if r else nan, "W/g Fe"),
        f"{method}_r_squared": (r.r_squared if r else nan, ""),
        f"{method}_ilp_nH_m2_per_kg_Fe": (ilp, "nH m^2/kg Fe"),
        f"{method}_ilp_u95_nH_m2_per_kg_Fe": (ilp_u95, "nH m^2/kg Fe"),
        f"{method}_bias": (r.bias if r else "", ""),
    }
    for source in _BUDGET_SOURCES:
        share = r.budget.get(source, 0.0) if r else nan
        values[f"{method}_u_{source}_percent"] = (100.0 * share, "%")
    return values
