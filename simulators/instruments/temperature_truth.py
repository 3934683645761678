"""The simulated tumor's own temperature field, as a temperature-map source.

Simulation only: a real bench has no such reading (it would use MR or optoacoustic
thermometry).  Serves :class:`labctl.devices.temperature_map.TemperatureMap` so that a
plan can report the dose of the whole tumor (T90, CEM43T90) beside a probe's.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SimTumorTemperatureMap"]


class SimTumorTemperatureMap:
    """``read_temperatures()`` -> (T C, volume mL) of the tumor cells of ``world.sample``."""

    kind = "temperature_map"
    wire = "none"
    emulator = "sim_tumor_map"
    source = "simulated twin: tumor temperature field (ground truth)"
    simulation_only = True

    def __init__(self, world, *, name: str = "tumor_map") -> None:
        if not hasattr(world.sample, "tumor_temperatures"):
            raise ValueError("the simulated sample has no tumor temperature field")
        self.world = world
        self.name = name

    def close(self) -> None:
        """Nothing to release (the twin owns the world)."""

    def read_temperatures(self) -> tuple[np.ndarray, np.ndarray]:
        with self.world.lock:
            self.world.sync()
            return self.world.sample.tumor_temperatures()
