"""Volume temperature of a treated region (a tumor): T90, T50 and the maximum.

Any source of a temperature map over a volume can serve it: MR or optoacoustic
thermometry on a real bench, or the simulated twin's own temperature field.  The
driver interface is small (``read_temperatures``, ``source``, ``simulation_only``);
``trigger()`` reads the map and ``read()`` gives ``<name>_T90``, ``<name>_T50`` and
``<name>_Tmax`` (C, stamped with the bench clock), the temperatures reached by at
least 90 %, 50 % and any of the volume (:func:`labctl.analysis.dose.temperature_exceeded_by`).
Configuration: ``source`` (what measured the map) and ``simulation_only`` (True when
the map is a simulator's ground truth, which no real bench has).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from ophyd import Component as Cpt
from ophyd import Device, Signal
from ophyd.status import Status

from labctl.analysis.dose import temperature_exceeded_by
from labctl.core.clock import Clock

__all__ = ["TemperatureMap", "TemperatureMapDriver"]


@runtime_checkable
class TemperatureMapDriver(Protocol):
    """What a temperature-map source provides."""

    source: str  #: what measures the map, e.g. "MR thermometry (PRF)"
    simulation_only: bool  #: True for a simulator's ground truth

    def read_temperatures(self) -> tuple[np.ndarray, np.ndarray]:
        """(T C, volume mL) of each element of the region now."""


class TemperatureMap(Device):
    """T90/T50/Tmax of a region from a :class:`TemperatureMapDriver` (module doc)."""

    T90 = Cpt(Signal, value=np.nan, kind="hinted")
    T50 = Cpt(Signal, value=np.nan, kind="normal")
    Tmax = Cpt(Signal, value=np.nan, kind="normal")
    source = Cpt(Signal, value="", kind="config")
    simulation_only = Cpt(Signal, value=False, kind="config")

    def __init__(self, driver: TemperatureMapDriver, *, clock: Clock, name: str, **kwargs):
        super().__init__(name=name, **kwargs)
        self.driver = driver
        self.clock = clock
        self.source.put(str(driver.source))
        self.simulation_only.put(bool(driver.simulation_only))

    def describe(self):
        out = super().describe()
        for cpt in (self.T90, self.T50, self.Tmax):
            out[cpt.name]["units"] = "degC"
        return out

    def trigger(self) -> Status:
        T, volume = self.driver.read_temperatures()
        t = self.clock.now()
        self.T90.put(temperature_exceeded_by(T, volume, 0.9), timestamp=t)
        self.T50.put(temperature_exceeded_by(T, volume, 0.5), timestamp=t)
        finite = np.asarray(T, dtype=float)[np.isfinite(T)]
        self.Tmax.put(float(finite.max()) if finite.size else np.nan, timestamp=t)
        status = Status(obj=self)
        status.set_finished()
        return status
