"""Photothermal plans: laser therapy (open or closed loop) and conversion efficiency.

Like the hyperthermia plans: all thermometer channels into ``baseline``, one
``primary`` event per step, results in ``analysis``; emission off on every exit path
(plan cleanup, and the laser's ``stop()``/``unstage()`` on pause, halt and abort).
"""

from __future__ import annotations

import math

import numpy as np
from bluesky import preprocessors as bpp

from labctl.analysis.control import PID
from labctl.analysis.pce import photothermal_efficiency
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
    role_signal,
    save_results,
    switch_off,
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


def photothermal_therapy(
    laser: Laser,
    thermo: FiberOpticThermometer,
    *,
    duration: float,
    irradiance: float | None = None,
    target: float | None = None,
    channel: str = "tumor",
    max_irradiance: float | None = None,
    period: float = 1.0,
    ramp_rate: float | None = 1.0,
    gains: dict | None = None,
    md: dict | None = None,
):
    """Laser on for ``duration`` s at a fixed ``irradiance`` (W/cm^2, open loop), or
    holding ``channel`` at ``target`` (C) by driving the laser power under PID (closed
    loop, power up to ``max_irradiance`` W/cm^2 or the bench's cap).  CEM43 recorded."""
    if (irradiance is None) == (target is None):
        raise ConfigError("give exactly one of irradiance (open loop) or target (closed loop)")
    if not duration > 0:
        raise ConfigError(f"duration must be > 0 s, got {duration!r}")
    if not period > 0:
        raise ConfigError(f"period must be > 0 s, got {period!r}")
    area = laser.spot_area_cm2
    if irradiance is not None:
        laser.limits.check_laser(irradiance * area, area, where=laser.name)
        p_max = irradiance * area
    else:
        (getattr(thermo, "limits", None) or laser.limits).check_temperature(channel, target)
        cap = laser.limits.max_laser_power_W(area)
        p_max = cap if max_irradiance is None else min(cap, max_irradiance * area)
        laser.limits.check_laser(p_max, area, where=laser.name)
    signal = role_signal(thermo, channel)
    g = {**DEFAULT_PTT_GAINS, **(gains or {})}
    if target is None:
        pid = ConstantOutput(1.0)  # open loop: the requested irradiance throughout
        settings = LoopSettings(
            target_C=math.inf, hold_s=duration, stop_on="duration", period_s=period
        )
    else:
        pid = PID(g["kp"], g["ki"], g.get("kd", 0.0), target, output_limits=(0.0, 1.0))
        settings = LoopSettings(
            target_C=target,
            hold_s=duration,
            stop_on="duration",
            period_s=period,
            ramp_C_per_min=ramp_rate,
        )
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
            "channel": channel,
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
        )
        yield from switch_off(laser)
        values = summary.values("W")
        values["irradiance_max_W_cm2"] = (p_max / area, "W/cm^2")
        values["skin_mpe_W_cm2"] = (laser.mpe_W_cm2, "W/cm^2")
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
    absorbance: float,
    channel: str = "sample",
    baseline: float = 30.0,
    period: float = 1.0,
    q_dis: float = 0.0,
    md: dict | None = None,
):
    """Photothermal conversion efficiency (Roper): laser at ``power`` W for ``heat_time``
    s (to a plateau), laser off, record cooling for ``cool_time`` s; eta from the cooling
    time constant, stored in the ``analysis`` stream.

    ``sample``: ``heat_capacity_J_per_K`` or ``components``; ``absorbance`` (base 10) of
    the sample at the laser wavelength; ``q_dis`` W absorbed by solvent and cuvette (from
    a solvent-only run).
    """
    for name, value in (("heat_time", heat_time), ("cool_time", cool_time)):
        if not value > 0:
            raise ConfigError(f"{name} must be > 0 s, got {value!r}")
    if not absorbance > 0:
        raise ConfigError(f"absorbance must be > 0, got {absorbance!r}")
    if not period > 0:
        raise ConfigError(f"period must be > 0 s, got {period!r}")
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
        },
        "sample": dict(sample),
        "heat_capacity_J_per_K": C,
        "wavelength_nm": laser.wavelength_nm,
        **(md or {}),
    }
    objs = [thermo, laser, state]

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
        t = np.array([p[0] for p in series])
        T = np.array([p[1] for p in series])
        result = photothermal_efficiency(
            t,
            T,
            laser_off_s=marks["off"],
            laser_on_s=marks["on"],
            power_W=power,
            absorbance=absorbance,
            heat_capacity_J_per_K=C,
            q_dis_W=q_dis,
        )
        marks["result"] = result
        values = {
            "eta": (result.eta, ""),
            "eta_std": (result.eta_std, ""),
            "tau_s": (result.tau_s, "s"),
            "hS_W_per_K": (result.hS_W_per_K, "W/K"),
            "T_max_C": (result.T_max_C, "degC"),
            "T_surr_C": (result.T_surr_C, "degC"),
            "absorbed_power_W": (result.absorbed_power_W, "W"),
            "q_dis_W": (result.q_dis_W, "W"),
            "r_squared": (result.r_squared, ""),
        }
        yield from save_results(Results("pce", values, clock=laser.clock))

    plan = bpp.finalize_wrapper(body(), switch_off(laser))
    plan = bpp.stage_wrapper(plan, [thermo, laser])
    return with_result(bpp.run_wrapper(plan, md=metadata), lambda: marks.get("result"))
