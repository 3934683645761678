"""The closed temperature loop shared by magnetic hyperthermia and photothermal therapy.

Each step (one event of ``primary``): trigger the thermometer (and an actuator that
acquires on trigger), read it, add to the live CEM43, compute the next command with the
PID (on the power fraction ``u`` in [0, 1], which is linear in heating power), record
setpoint/command/dose/phase, read the actuator's readbacks, save, apply the command,
sleep until one period after the reading.  The setpoint may ramp from the starting
temperature to the target at a fixed rate so the tumor does not overshoot.
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from bluesky.utils import Msg
from ophyd import Device

from labctl.analysis.control import PID
from labctl.analysis.dose import CEM43Accumulator
from labctl.plans.stubs import require_valid, time_of, value_of

__all__ = [
    "LoopSettings",
    "LoopSummary",
    "ConstantOutput",
    "temperature_loop",
    "set_and_wait",
    "acquires_on_trigger",
]


class ConstantOutput:
    """Open-loop stand-in for a PID: always the same power fraction."""

    def __init__(self, output: float = 1.0) -> None:
        self.output = float(output)
        self.setpoint = float("nan")

    def update(self, measurement: float, t_s: float) -> float:
        return self.output


@dataclass(frozen=True)
class LoopSettings:
    """When to stop and how to move the setpoint.  Units: C, s, C/min, CEM43 minutes."""

    target_C: float
    hold_s: float
    #: "time": hold_s after first reaching the target; "cem43": dose reached;
    #: "duration": hold_s after the loop started
    stop_on: str = "time"
    cem43_target_min: float | None = None
    period_s: float = 1.0
    ramp_C_per_min: float | None = None
    max_time_s: float = 4 * 3600.0


@dataclass
class LoopSummary:
    """What the loop saw; stored in the run's ``analysis`` stream."""

    t_start: float = math.nan
    T_start_C: float = math.nan
    t_reached: float = math.nan
    t_end: float = math.nan
    cem43_min: float = 0.0
    T_max_C: float = -math.inf
    command_max: float = 0.0
    reason: str = ""
    #: CEM43 of every thermometer channel (min) and the time a guard limited the output
    #: (s), where the plan records them
    probe_cem43_min: dict = field(default_factory=dict)
    guard_limited_s: float = 0.0

    def values(self, units: str) -> dict[str, tuple[object, str]]:
        reached = math.isfinite(self.t_reached)
        return {
            "target_reached": (reached, ""),
            "time_to_target_s": (self.t_reached - self.t_start if reached else math.nan, "s"),
            "time_at_target_s": (self.t_end - self.t_reached if reached else 0.0, "s"),
            "duration_s": (self.t_end - self.t_start, "s"),
            "cem43_min": (self.cem43_min, "min"),
            "T_start_C": (self.T_start_C, "degC"),
            "T_max_C": (self.T_max_C, "degC"),
            "command_max": (self.command_max, units),
            "stop_reason": (self.reason, ""),
        }


def acquires_on_trigger(obj) -> bool:
    """False for an ophyd device whose ``trigger`` is ophyd's own with no trigger
    signals (it returns a finished status and nothing else): such a device, an AMF
    generator say, is only read, saving a message per step."""
    return not (
        isinstance(obj, Device)
        and type(obj).trigger is Device.trigger
        and not getattr(obj, "trigger_signals", ())
    )


def set_and_wait(signal, value):
    """``mv`` in two bare messages."""
    group = f"set-{uuid.uuid4().hex[:8]}"
    yield Msg("set", signal, value, group=group)
    yield Msg("wait", None, group=group)


def temperature_loop(
    thermo,
    signal,
    others,
    state,
    pid: PID | ConstantOutput,
    settings: LoopSettings,
    *,
    command_for: Callable[[float], float],
    apply: Callable,
    ensure_on: Callable,
    summary: LoopSummary,
    observe: Callable[[dict], None] | None = None,
):
    """Run the loop until its stop condition.

    ``command_for(u)`` converts the power fraction to the command (field in kA/m, laser
    power in W); ``apply(command)`` is a plan that sets it; ``ensure_on(readings)`` a
    plan that (re-)energizes the output if the readings show it off (after a pause the
    RunEngine has stopped the device, and the loop resumes from its checkpoint).
    ``observe(readings)``, if given, sees every thermometer reading before the command
    is computed (other probes' doses, a second-probe guard).
    """
    cem = CEM43Accumulator()
    steps = itertools.count()
    triggered = [obj for obj in (thermo, *others) if acquires_on_trigger(obj)]
    while True:
        yield Msg("checkpoint")
        yield Msg("create", name="primary")
        # trigger at once whatever acquires on trigger (the thermometer, a laser's
        # compound status query); the plan state is read after it is updated
        group = f"step-{next(steps)}"
        for obj in triggered:
            yield Msg("trigger", obj, group=group)
        yield Msg("wait", None, group=group)
        readings = yield Msg("read", thermo)
        T = require_valid(value_of(readings, signal), signal, "temperature control")
        t = time_of(readings, signal)
        if observe is not None:
            observe(readings)
        dose = cem.add(t, T)
        if not math.isfinite(summary.t_start):
            summary.t_start, summary.T_start_C = t, T
        if not math.isfinite(summary.t_reached) and settings.target_C <= T:
            summary.t_reached = t
        summary.T_max_C = max(summary.T_max_C, T)
        summary.cem43_min = dose
        reached = math.isfinite(summary.t_reached)
        held = t - summary.t_reached if reached else -math.inf
        reason = ""
        if settings.stop_on == "time" and held >= settings.hold_s - 1e-6:
            reason = "hold time completed"
        elif settings.stop_on == "duration" and t - summary.t_start >= settings.hold_s - 1e-6:
            reason = "treatment time completed"
        elif settings.stop_on == "cem43" and dose >= settings.cem43_target_min:
            reason = "CEM43 target reached"
        elif t - summary.t_start >= settings.max_time_s - 1e-6:
            reason = "maximum time elapsed" + ("" if reached else " before reaching the target")
        if settings.ramp_C_per_min:
            r = min(
                settings.target_C,
                summary.T_start_C + settings.ramp_C_per_min * (t - summary.t_start) / 60.0,
            )
        else:
            r = settings.target_C
        pid.setpoint = r
        u = 0.0 if reason else pid.update(T, t)
        command = command_for(u)
        state.record(setpoint=r, command=command, cem43=dose, phase="hold" if reached else "ramp")
        rest = {}
        for obj in (*others, state):
            rest.update((yield Msg("read", obj)))
        yield Msg("save")
        if reason:
            summary.reason, summary.t_end = reason, t
            return
        yield from apply(command)
        summary.command_max = max(summary.command_max, command)
        yield from ensure_on(rest)
        # to the next tick: steps stay period_s apart however long the actuator took
        # to settle (a bench clock's now; a full period without one)
        clock = getattr(thermo, "clock", None)
        spent = clock.now() - t if clock is not None else 0.0
        yield Msg("sleep", None, min(settings.period_s, max(0.0, settings.period_s - spent)))
