"""A soft ophyd device that records what a plan decided at each step.

Read in the same ``trigger_and_read`` as the instruments, so every event of a control
loop holds the measurement, the command that followed it, the setpoint, the phase and
the thermal dose together.  Timestamps come from the bench clock.
"""

from __future__ import annotations

from ophyd import Component as Cpt
from ophyd import Device, Signal

from labctl.core.clock import Clock, WallClock

__all__ = ["PlanState", "PHASES"]

#: phase codes stored in the ``phase`` signal (integers store compactly and plot well)
PHASES = {
    "equilibrate": 0,
    "baseline": 1,
    "ramp": 2,
    "hold": 3,
    "heat": 4,
    "cool": 5,
    "done": 6,
}


class _StateSignal(Signal):
    def __init__(self, *, units: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self._units = units

    def describe(self):
        desc = super().describe()
        if self._units is not None:
            desc[self.name]["units"] = self._units
        return desc


class PlanState(Device):
    """What the plan set and knew at each step (setpoint, command, dose, phase)."""

    setpoint = Cpt(_StateSignal, value=float("nan"), units="degC", kind="hinted")
    command = Cpt(_StateSignal, value=0.0, units="", kind="normal")
    cem43 = Cpt(_StateSignal, value=0.0, units="min", kind="hinted")
    phase = Cpt(_StateSignal, value=0, kind="normal")

    def __init__(
        self, *, clock: Clock | None = None, command_units: str = "", name: str = "state", **kwargs
    ):
        super().__init__(name=name, **kwargs)
        self.clock = clock if clock is not None else WallClock()
        self.command._units = command_units

    def record(
        self,
        *,
        setpoint: float | None = None,
        command: float | None = None,
        cem43: float | None = None,
        phase: str | None = None,
    ) -> None:
        """Update the values read at the next ``trigger_and_read``."""
        t = self.clock.now()
        if setpoint is not None:
            self.setpoint.put(float(setpoint), timestamp=t)
        if command is not None:
            self.command.put(float(command), timestamp=t)
        if cem43 is not None:
            self.cem43.put(float(cem43), timestamp=t)
        if phase is not None:
            self.phase.put(PHASES[phase], timestamp=t)


class Results:
    """A one-shot readable holding a plan's analysis results (scalars with units).

    Saved as a single event of the run's ``analysis`` stream.
    """

    parent = None

    def __init__(
        self, name: str, values: dict[str, tuple[object, str]], *, clock: Clock | None = None
    ) -> None:
        self.name = name
        self._values = dict(values)
        self._t = (clock if clock is not None else WallClock()).now()

    def read(self):
        return {
            f"{self.name}_{k}": {"value": v, "timestamp": self._t}
            for k, (v, _) in self._values.items()
        }

    def describe(self):
        out = {}
        for k, (v, units) in self._values.items():
            if isinstance(v, bool):
                dtype = "boolean"
            elif isinstance(v, int):
                dtype = "integer"
            elif isinstance(v, float):
                dtype = "number"
            else:
                dtype = "string"
            out[f"{self.name}_{k}"] = {
                "source": f"labctl:{self.name}",
                "dtype": dtype,
                "shape": [],
                "units": units,
            }
        return out

    def read_configuration(self):
        return {}

    def describe_configuration(self):
        return {}
