"""Small plan pieces shared by labctl's plans.

The recording and control loops yield bare ``Msg`` objects instead of nesting decorated
plan stubs: the RunEngine's per-message cost is the budget of a 1 Hz loop simulated at
1,000x real time.
"""

from __future__ import annotations

import math
import uuid

from bluesky.utils import Msg

from labctl.core.errors import ConfigError, InstrumentError

__all__ = [
    "trigger_read",
    "read_step",
    "save_results",
    "switch_off",
    "value_of",
    "time_of",
    "role_signal",
    "record_phase",
    "heat_capacity_from_sample",
    "with_result",
]


def trigger_read(objs):
    """Trigger ``objs`` together, wait, read them; returns the merged readings.

    Must be called between a ``create`` and a ``save`` message.
    """
    group = f"trigger-{uuid.uuid4().hex[:8]}"
    for obj in objs:
        if hasattr(obj, "trigger"):
            yield Msg("trigger", obj, group=group)
    yield Msg("wait", None, group=group)
    readings = {}
    for obj in objs:
        reading = yield Msg("read", obj)
        if reading is not None:
            readings.update(reading)
    return readings


def read_step(objs, stream: str = "primary"):
    """Trigger, read and save ``objs`` as one event; returns the readings."""
    yield Msg("create", name=stream)
    readings = yield from trigger_read(objs)
    yield Msg("save")
    return readings


def save_results(results):
    """Save a ``Results`` readable as the one event of the ``analysis`` stream."""
    yield Msg("create", name="analysis")
    yield Msg("read", results)
    yield Msg("save")


def switch_off(*devices):
    """Ask each energizing device to de-energize (its ``stop()``)."""
    for device in devices:
        if device is not None:
            yield Msg("stop", device)


def role_signal(thermo, role: str):
    """The signal of thermometer channel ``role`` (e.g. ``"tumor"``)."""
    getter = getattr(thermo, "role_signal", None)
    try:
        return getter(role) if getter is not None else getattr(thermo, role)
    except (AttributeError, KeyError) as exc:
        raise ConfigError(f"thermometer {thermo.name!r} has no channel {role!r}") from exc


def value_of(readings: dict, signal) -> float:
    """Reading of ``signal`` as a float (NaN if missing)."""
    entry = readings.get(signal.name)
    return float(entry["value"]) if entry is not None else math.nan


def time_of(readings: dict, signal) -> float:
    """Timestamp (clock epoch seconds) of ``signal``'s reading."""
    return float(readings[signal.name]["timestamp"])


def require_valid(value: float, signal, what: str) -> float:
    """Raise ``InstrumentError`` if a reading a plan depends on is not a number."""
    if not math.isfinite(value):
        raise InstrumentError(
            f"{what}: {signal.name} gave no valid reading (probe missing or broken); "
            "outputs switched off"
        )
    return value


def record_phase(
    objs,
    state,
    signal,
    *,
    duration_s: float,
    period_s: float,
    phase: str,
    series: list | None = None,
):
    """Record ``objs`` every ``period_s`` for ``duration_s`` (clock time) as phase ``phase``.

    Appends ``(t, T)`` of ``signal`` to ``series``; a checkpoint before each step lets a
    pause resume there.
    """
    state.record(phase=phase)
    t_end = None
    while True:
        yield Msg("checkpoint")
        readings = yield from read_step(objs)
        t = time_of(readings, signal)
        if series is not None:
            series.append((t, value_of(readings, signal)))
        if t_end is None:
            t_end = t + duration_s
        if t >= t_end - 1e-6:
            return
        yield Msg("sleep", None, min(period_s, t_end - t))


def heat_capacity_from_sample(sample: dict) -> float:
    """C = sum m_i c_i (J/K) from ``sample``: ``heat_capacity_J_per_K`` or ``components``
    (a list of ``{mass_g, c_J_per_gK}`` mappings or ``[mass_kg, c_J_per_kgK]`` pairs)."""
    if "heat_capacity_J_per_K" in sample:
        c = float(sample["heat_capacity_J_per_K"])
    elif "components" in sample:
        c = 0.0
        for comp in sample["components"]:
            if isinstance(comp, dict):
                c += float(comp["mass_g"]) * float(comp["c_J_per_gK"])
            else:
                mass_kg, c_kg = comp
                c += float(mass_kg) * float(c_kg)
    else:
        raise ConfigError(
            "sample needs 'heat_capacity_J_per_K' or 'components' (masses and specific heats)"
        )
    if not c > 0:
        raise ConfigError(f"sample heat capacity must be > 0 J/K, got {c}")
    return c


def with_result(plan, result):
    """Run ``plan`` and return ``result()`` afterwards (the plan's value for the caller)."""
    yield from plan
    return result()
