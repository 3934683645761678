"""What the safety monitor watches: guarded thermometer roles and energizing instruments.

Each watch reads its instrument through the driver (never through the plan's ophyd
device, so the monitor neither depends on nor disturbs what the plan reads) and
returns the problems it sees as :class:`Problem` tuples; the monitor decides.

- :class:`ProbeWatch`: one thermometer; per guarded role: over its maximum
  (``over_temperature``), ``---.-`` (``invalid_reading``), no valid reading for
  ``stale_s`` (``stale_reading``, e.g. the link is dead), the exact same reading for
  ``stuck_s`` (``stuck_reading``; a heuristic for probes whose noise exceeds their
  resolution, off unless configured).
- :class:`AMFWatch`, :class:`LaserWatch`: an energizing instrument; a protection that
  trips during the run (``interlock``, ``coolant``, ``instrument_fault``; faults
  already latched when the run started are not new events, the instrument itself
  refuses to energize while they are), an output beyond the bench limits by more
  than the readback margin (``over_output``), energized longer than
  ``max_energized_s`` in the run (``max_energized``), status unreadable for
  ``stale_s`` (``transport``).  ``switch_off()`` de-energizes through the driver's
  ``emergency_off()`` (or the device's ``stop()``) and raises if not confirmed off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from labctl.core.errors import LabctlError
from labctl.core.limits import BenchLimits

__all__ = ["Trip", "Problem", "ProbeWatch", "AMFWatch", "LaserWatch"]


@dataclass(frozen=True)
class Trip:
    """One trip.  Times are bench-clock epoch seconds; ``value``/``limit`` in the units
    of ``message``; ``off_time`` is when every output was confirmed off (NaN if not yet)."""

    time: float
    kind: str
    source: str
    message: str
    value: float = math.nan
    limit: float = math.nan
    outputs_off: bool = False
    off_time: float = math.nan
    off_errors: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.message


class Problem(NamedTuple):
    """One reason to trip.  ``value``/``limit`` in the unit the message states."""

    kind: str
    source: str
    message: str
    value: float = math.nan
    limit: float = math.nan


class ProbeWatch:
    """Guarded roles of one fiber-optic thermometer device (``device.roles``, ``.driver``)."""

    def __init__(self, device, guards: dict[str, float]) -> None:
        self.device = device
        self.name = device.name
        self.channels = {role: ch for ch, role in device.roles.items()}  #: role -> channel
        self.guards = {r: v for r, v in guards.items() if r in self.channels}  #: role -> max, C
        self.last_valid: dict[str, float] = {}
        self._same: dict[str, tuple[float, float]] = {}  # role -> (value, since)
        self.last_values: dict[str, float | None] = {}

    def begin(self, now: float, guards: dict[str, float]) -> None:
        self.guards = {role: guards[role] for role in self.channels if role in guards}
        self.last_valid = {role: now for role in self.channels}
        self._same.clear()
        self.last_values.clear()

    def check(self, now: float, stale_s: float, stuck_s: float | None) -> list[Problem]:
        if not self.guards:
            return []
        try:
            values = self.device.driver.read_temperatures()
        except LabctlError as exc:
            return [
                Problem(
                    "stale_reading",
                    f"{self.name}.{role}",
                    f"{self.name}.{role}: no valid reading for {now - t:.3g} s "
                    f"(limit {stale_s:g} s); last error: {exc}",
                    now - t,
                    stale_s,
                )
                for role, t in self.last_valid.items()
                if role in self.guards and now - t >= stale_s - 1e-9
            ]
        problems = []
        for role, limit in self.guards.items():
            value = values.get(self.channels[role])
            self.last_values[role] = value
            where = f"{self.name}.{role}"
            if value is None:
                problems.append(
                    Problem(
                        "invalid_reading",
                        where,
                        f"{where}: no valid reading (---.-: probe broken, "
                        f"missing or out of range) on a probe guarded at "
                        f"{limit:g} C",
                        math.nan,
                        limit,
                    )
                )
                continue
            self.last_valid[role] = now
            if value > limit:
                problems.append(
                    Problem(
                        "over_temperature",
                        where,
                        f"{where}: {value:.1f} C exceeds its limit {limit:g} C",
                        value,
                        limit,
                    )
                )
            if stuck_s is not None:
                same = self._same.get(role)
                if same is None or same[0] != value:
                    self._same[role] = (value, now)
                elif now - same[1] >= stuck_s - 1e-9:
                    problems.append(
                        Problem(
                            "stuck_reading",
                            where,
                            f"{where}: reading frozen at {value:.1f} C for "
                            f"{now - same[1]:.3g} s (limit {stuck_s:g} s)",
                            value,
                            limit,
                        )
                    )
        return problems


class _EnergizerWatch:
    """Common part of the energizer watches: staleness, energized time, switch-off."""

    kind = "energizer"

    def __init__(self, device, limits: BenchLimits, margin: float) -> None:
        self.device = device
        self.name = device.name
        self.limits = limits
        self.margin = float(margin)
        self.last_ok = -math.inf
        self.baseline: set[str] | None = None
        self.energized_s = 0.0
        self._on_since: float | None = None
        self.energized = False  #: last known output state
        self.active = True  #: whether checks read this instrument (see SafetyMonitor)

    def begin(self, now: float, active: bool = True) -> None:
        self.active = active
        self.last_ok = now
        self.baseline = None
        self.energized_s = 0.0
        self._on_since = None

    def check(self, now: float, stale_s: float) -> list[Problem]:
        if not self.active:
            return []
        try:
            status = self.read()
        except LabctlError as exc:
            if now - self.last_ok >= stale_s - 1e-9:
                return [
                    Problem(
                        "transport",
                        self.name,
                        f"{self.name}: status unreadable for {now - self.last_ok:.3g} s "
                        f"(limit {stale_s:g} s): {exc}",
                        now - self.last_ok,
                        stale_s,
                    )
                ]
            return []
        self.last_ok = now
        problems = []
        active = self.protections(status)
        if self.baseline is None:
            self.baseline = set(active)
        self.baseline &= set(active)  # a cleared protection that trips again is new
        for name, (kind, text) in active.items():
            if name not in self.baseline or self.on(status):
                problems.append(Problem(kind, self.name, f"{self.name}: {text}"))
        on = self.on(status)
        self.energized = on
        if on:
            if self._on_since is not None:
                self.energized_s += now - self._on_since
            self._on_since = now
            problems += self.over_output(status)
            cap = self.limits.max_energized_s
            if cap is not None and self.energized_s > cap:
                problems.append(
                    Problem(
                        "max_energized",
                        self.name,
                        f"{self.name}: energized {self.energized_s:.0f} s in this "
                        f"run, beyond the limit {cap:g} s",
                        self.energized_s,
                        cap,
                    )
                )
        else:
            self._on_since = None
        return problems

    def switch_off(self) -> None:
        """De-energize through the driver; raise ``LabctlError`` if not confirmed off."""
        off = getattr(self.device.driver, "emergency_off", None)
        if off is not None:
            off()
        else:
            self.device.stop()
        self.energized = False
        self._on_since = None

    # -- per instrument kind --------------------------------------------------------------
    def read(self):
        raise NotImplementedError

    def protections(self, status) -> dict[str, tuple[str, str]]:
        raise NotImplementedError

    def on(self, status) -> bool:
        raise NotImplementedError

    def over_output(self, status) -> list[Problem]:
        raise NotImplementedError


class AMFWatch(_EnergizerWatch):
    """An AMF generator device (``AMFGenerator``): ``driver.status()`` per check."""

    kind = "amf"
    _KINDS = {
        "COOLANT_FLOW": ("coolant", "coolant flow lost (interlock)"),
        "COIL_OVERTEMP": ("instrument_fault", "coil over-temperature (interlock)"),
        "CAPACITOR_OVERTEMP": ("instrument_fault", "tank capacitor over-temperature (interlock)"),
        "POWER_ALARM": ("instrument_fault", "power outside the alarm window (generator trip)"),
    }

    def read(self):
        return self.device.driver.status()

    def protections(self, status):
        return {
            name: self._KINDS.get(name, ("instrument_fault", name)) for name in status.faults.names
        }

    def on(self, status) -> bool:
        return bool(status.heating)

    def over_output(self, status) -> list[Problem]:
        try:
            field_kA_m = self.device.field_for_current(status.current_A, status.frequency_Hz)
        except LabctlError:
            return []
        m = 1.0 + self.margin
        lim = self.limits
        out = []
        hf = field_kA_m * 1e3 * status.frequency_Hz
        if field_kA_m > lim.field_max_kA_m * m:
            out.append(
                Problem(
                    "over_output",
                    self.name,
                    f"{self.name}: field {field_kA_m:.3g} kA/m exceeds the bench limit "
                    f"{lim.field_max_kA_m:g} kA/m",
                    field_kA_m,
                    lim.field_max_kA_m,
                )
            )
        if hf > lim.hf_max * m:
            out.append(
                Problem(
                    "over_output",
                    self.name,
                    f"{self.name}: H*f {hf:.3g} A/(m s) exceeds the bench limit "
                    f"{lim.hf_max:.3g} A/(m s)",
                    hf,
                    lim.hf_max,
                )
            )
        cap = lim.amf_current_max_A
        if cap is not None and status.current_A > cap * m:
            out.append(
                Problem(
                    "over_output",
                    self.name,
                    f"{self.name}: current {status.current_A:g} A exceeds the bench "
                    f"limit {cap:g} A",
                    status.current_A,
                    cap,
                )
            )
        return out


class LaserWatch(_EnergizerWatch):
    """A laser device (``Laser``): ``driver.read_status()`` (one compound query)."""

    kind = "laser"
    _KINDS = {
        "interlock": ("interlock", "interlock open or tripped"),
        "keylock": ("interlock", "keylock off or tripped"),
        "overtemperature": ("instrument_fault", "controller over-temperature tripped"),
    }

    def read(self):
        return self.device.driver.read_status()

    def protections(self, status):
        return {name: kind for name, kind in self._KINDS.items() if status.get(name)}

    def on(self, status) -> bool:
        return bool(status.get("emission"))

    def over_output(self, status) -> list[Problem]:
        area = self.device.spot_area_cm2
        cap = self.limits.max_laser_power_W(area)
        power = float(status.get("power_W", 0.0))
        if power > cap * (1.0 + self.margin):
            return [
                Problem(
                    "over_output",
                    self.name,
                    f"{self.name}: optical power {power:.3g} W ({power / area:.3g} W/cm^2)"
                    f" exceeds the bench limit {cap:.3g} W",
                    power,
                    cap,
                )
            ]
        return []
