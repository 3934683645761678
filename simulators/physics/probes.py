"""Fiber-optic temperature probes (GaAs / fluoroptic) as seen by a thermometer emulator.

A probe reads the sample's true temperature at its position through a first-order lag
(time constant ``tau_s``, ~0.1-1 s for fiber-optic sensors), adds Gaussian noise
(sigma ``noise_C``) and a calibration offset, and quantises to the instrument's
resolution (0.1 C).  Faults: ``broken`` (no reading: the thermometer replies ``---.-``)
and ``stuck_value`` (a frozen reading).  Noise comes from the world's random generator,
so a bench run is repeatable for a given seed.

The lag is integrated exactly between reads for a temperature that changes linearly
between the two reads (first-order hold)::

    y1 = T1 - s tau + (y0 - T0 + s tau) exp(-dt / tau),    s = (T1 - T0) / dt
"""

from __future__ import annotations

import math

from labctl.simulators.physics.world import SimWorld

__all__ = ["FiberProbe"]


class FiberProbe:
    """One probe at a named sample position (``"tumor"``, ``"rectal"``, ``"sample"``, ...)."""

    def __init__(
        self,
        position: str,
        tau_s: float = 0.5,
        noise_C: float = 0.05,
        resolution_C: float = 0.1,
        offset_C: float = 0.0,
    ) -> None:
        if tau_s < 0 or noise_C < 0 or resolution_C < 0:
            raise ValueError("probe tau_s, noise_C and resolution_C must be >= 0")
        self.position = position
        self.tau_s = float(tau_s)
        self.noise_C = float(noise_C)
        self.resolution_C = float(resolution_C)
        self.offset_C = float(offset_C)
        self.broken = False
        self.stuck_value: float | None = None
        self._t: float | None = None
        self._T = 0.0  # true temperature at the last read
        self._y = 0.0  # lagged sensor temperature at the last read

    def reset(self) -> None:
        """Forget the lag state (the next read starts in equilibrium with the sample)."""
        self._t = None

    def sensor_temperature(self, world: SimWorld) -> float:
        """The lagged (noise-free, unquantised, without offset) sensor temperature, C."""
        T = world.temperature(self.position)
        t = world.now()
        if self._t is None:
            self._y = T
        else:
            dt = t - self._t
            if dt > 0:
                if self.tau_s == 0:
                    self._y = T
                else:
                    slope = (T - self._T) / dt
                    lag = slope * self.tau_s
                    self._y = T - lag + (self._y - self._T + lag) * math.exp(-dt / self.tau_s)
        self._t, self._T = t, T
        return self._y

    def read(self, world: SimWorld) -> float | None:
        """A reading in C, or ``None`` when the probe is broken (no valid reading)."""
        y = self.sensor_temperature(world)
        if self.broken:
            return None
        if self.stuck_value is not None:
            return float(self.stuck_value)
        value = y + self.offset_C
        if self.noise_C > 0:
            value += float(world.rng.normal(0.0, self.noise_C))
        if self.resolution_C > 0:
            value = round(round(value / self.resolution_C) * self.resolution_C, 10)
        return value
