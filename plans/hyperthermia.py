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
from bluesky import preprocessors as bpp

from labctl.analysis.control import PID, field_for_power_fraction
from labctl.analysis.sar import sar_all
from labctl.core.errors import ConfigError
from labctl.devices.amf import AMFGenerator
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
    md: dict | None = None,
):
    """Heat ``channel`` to ``target`` (C) and hold it by driving the field under PID.

    Parameters: ``hold`` s at target (counted from the first reading >= target) with
    ``stop_on="time"``, or until the live CEM43 reaches ``cem43_target`` minutes with
    ``stop_on="cem43"``; ``frequency`` Hz (one of the generator's tanks); ``max_field``
    kA/m, never exceeded (and checked against the bench's H*f limit before anything is
    sent); ``ramp_rate`` C/min for the setpoint from the starting temperature (None: a
    step); ``period`` s between control steps; ``gains`` kp/ki/kd on the power fraction.
    """
    if stop_on not in ("time", "cem43"):
        raise ConfigError(f"stop_on must be 'time' or 'cem43', got {stop_on!r}")
    if stop_on == "cem43" and not (cem43_target and cem43_target > 0):
        raise ConfigError("stop_on='cem43' needs cem43_target > 0 (minutes)")
    if not hold > 0 and stop_on == "time":
        raise ConfigError(f"hold must be > 0 s, got {hold!r}")
    _check_period(period)
    _amf_setup(amf, frequency, max_field)
    thermo_limit = getattr(thermo, "limits", None) or amf.limits
    thermo_limit.check_temperature(channel, target)
    signal = role_signal(thermo, channel)
    g = {**DEFAULT_HYPERTHERMIA_GAINS, **(gains or {})}
    pid = PID(g["kp"], g["ki"], g.get("kd", 0.0), target, output_limits=(0.0, 1.0))
    settings = LoopSettings(
        target_C=target,
        hold_s=hold,
        stop_on=stop_on,
        cem43_target_min=cem43_target,
        period_s=period,
        ramp_C_per_min=ramp_rate,
        max_time_s=max_time if max_time is not None else hold + 3600.0,
    )
    state = PlanState(clock=amf.clock, command_units="kA/m", name="control")
    summary = LoopSummary()
    field_max_A_m = max_field * 1e3

    def command_for(u: float) -> float:
        return field_for_power_fraction(u, field_max_A_m) / 1e3

    def apply(field_kA_m: float):
        yield from set_and_wait(amf.field, min(field_kA_m, max_field))

    metadata = {
        "plan_name": "magnetic_hyperthermia",
        "plan_args": {
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
        },
        "control_channel": channel,
        "target_C": target,
        "frequency_Hz": frequency,
        "max_field_kA_m": max_field,
        "hints": {"dimensions": [(["time"], "primary")]},
        **(md or {}),
    }

    def body():
        yield from read_step([thermo], stream="baseline")
        yield from set_and_wait(amf.field, 0.0)
        yield from set_and_wait(amf.frequency, frequency)
        yield from set_and_wait(amf.output, 1)
        yield from temperature_loop(
            thermo,
            signal,
            [amf],
            state,
            pid,
            settings,
            command_for=command_for,
            apply=apply,
            ensure_on=_ensure_amf_on(amf),
            summary=summary,
        )
        yield from switch_off(amf)
        values = summary.values("kA/m")
        values["cem43_target_min"] = (cem43_target if cem43_target else math.nan, "min")
        yield from save_results(Results("hyperthermia", values, clock=amf.clock))

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
    md: dict | None = None,
):
    """Calorimetric SAR: equilibrate, baseline, field on for ``heat_time`` s, field off,
    record cooling for ``cool_time`` s; SAR by initial slope, corrected slope and
    Box-Lucas, with ILP, stored in the run's ``analysis`` stream.

    ``sample``: ``heat_capacity_J_per_K`` or ``components`` (masses and specific heats),
    and ``iron_mass_mg`` (or ``iron_mass_g``); other keys (name, batch...) are recorded.
    ``frequency`` Hz, ``field`` kA/m peak.
    """
    for name, value in (
        ("heat_time", heat_time),
        ("cool_time", cool_time),
        ("equilibrate", equilibrate),
        ("baseline", baseline),
    ):
        if not value >= 0 or (name == "heat_time" and value == 0):
            raise ConfigError(f"{name} must be a positive time in s, got {value!r}")
    _check_period(period)
    C = heat_capacity_from_sample(sample)
    if "iron_mass_mg" in sample:
        iron_g = float(sample["iron_mass_mg"]) / 1e3
    elif "iron_mass_g" in sample:
        iron_g = float(sample["iron_mass_g"])
    else:
        raise ConfigError("sample needs the iron mass ('iron_mass_mg' or 'iron_mass_g')")
    if not iron_g > 0:
        raise ConfigError(f"sample iron mass must be > 0, got {iron_g} g")
    _amf_setup(amf, frequency, field)
    signal = role_signal(thermo, channel)
    state = PlanState(clock=amf.clock, command_units="kA/m", name="control")
    series: list[tuple[float, float]] = []
    marks: dict[str, float] = {}
    metadata = {
        "plan_name": "sar_measurement",
        "plan_args": {
            "frequency": frequency,
            "field": field,
            "heat_time": heat_time,
            "cool_time": cool_time,
            "channel": channel,
            "period": period,
            "equilibrate": equilibrate,
            "baseline": baseline,
        },
        "sample": dict(sample),
        "heat_capacity_J_per_K": C,
        "iron_mass_g": iron_g,
        "frequency_Hz": frequency,
        "field_kA_m": field,
        **(md or {}),
    }
    objs = [thermo, amf, state]

    def body():
        yield from read_step([thermo], stream="baseline")
        yield from set_and_wait(amf.field, 0.0)
        yield from set_and_wait(amf.frequency, frequency)
        state.record(setpoint=math.nan, command=0.0)
        if equilibrate:
            yield from record_phase(
                objs,
                state,
                signal,
                duration_s=equilibrate,
                period_s=period,
                phase="equilibrate",
                series=series,
            )
        yield from record_phase(
            objs,
            state,
            signal,
            duration_s=baseline or period,
            period_s=period,
            phase="baseline",
            series=series,
        )
        yield from set_and_wait(amf.field, field)
        yield from set_and_wait(amf.output, 1)
        marks["on"] = amf.clock.now()
        state.record(command=field)
        yield from record_phase(
            objs, state, signal, duration_s=heat_time, period_s=period, phase="heat", series=series
        )
        yield from switch_off(amf)
        marks["off"] = amf.clock.now()
        state.record(command=0.0)
        if cool_time:
            yield from record_phase(
                objs,
                state,
                signal,
                duration_s=cool_time,
                period_s=period,
                phase="cool",
                series=series,
            )
        t = np.array([p[0] for p in series])
        T = np.array([p[1] for p in series])
        result = sar_all(
            t,
            T,
            heat_capacity_J_per_K=C,
            iron_mass_g=iron_g,
            t_on_s=marks["on"],
            t_off_s=marks["off"],
            field_A_m=field * 1e3,
            frequency_Hz=frequency,
        )
        values = {
            "heat_capacity_J_per_K": (C, "J/K"),
            "iron_mass_g": (iron_g, "g"),
            "t_on": (marks["on"], "s"),
            "t_off": (marks["off"], "s"),
        }
        for method in ("initial_slope", "corrected_slope", "box_lucas"):
            r = getattr(result, method)
            values[f"{method}_W_per_g"] = (r.sar_W_per_g if r else math.nan, "W/g")
            values[f"{method}_std_W_per_g"] = (r.sar_std_W_per_g if r else math.nan, "W/g")
            values[f"{method}_r_squared"] = (r.r_squared if r else math.nan, "")
            values[f"{method}_ilp_nH_m2_per_kg"] = (
                r.ilp_nH_m2_per_kg if r and r.ilp_nH_m2_per_kg is not None else math.nan,
                "nH m^2/kg",
            )
        values["errors"] = ("; ".join(f"{k}: {v}" for k, v in result.errors.items()), "")
        marks["result"] = result
        yield from save_results(Results("sar", values, clock=amf.clock))

    plan = bpp.finalize_wrapper(body(), switch_off(amf))
    plan = bpp.stage_wrapper(plan, [thermo, amf])
    return with_result(bpp.run_wrapper(plan, md=metadata), lambda: marks.get("result"))
