"""The simulated world: one sample model kept in step with the bench clock.

Emulators never advance the physics themselves: they call the world, which integrates
the sample up to the clock's ``now()`` before reading it or changing its inputs, so
inputs are piecewise constant between commands and a lockstep clock jump of 60 s is
integrated as 60 s of physics on the next query.
"""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

import numpy as np

from labctl.core.clock import Clock

__all__ = ["SampleModel", "SimWorld"]


@runtime_checkable
class SampleModel(Protocol):
    """What every sample model (vial, mouse tumor, ...) offers the instruments.

    Units: seconds, degrees Celsius, Hz, A/m (peak field), W, nm, cm^2.
    """

    t_s: float  #: model time since the model was created, s

    @property
    def positions(self) -> tuple[str, ...]:
        """Named probe positions (``"tumor"``, ``"rectal"``, ``"skin"``, ...)."""

    def advance(self, dt_s: float) -> None:
        """Integrate the physics ``dt_s`` seconds forward with the current inputs."""

    def set_amf(self, frequency_Hz: float, field_A_m: float) -> None:
        """Alternating magnetic field at the sample: frequency and peak amplitude (0 = off)."""

    def set_laser(self, power_W: float, wavelength_nm: float, spot_area_cm2: float) -> None:
        """Laser light on the sample: optical power, wavelength and spot area (0 W = off)."""

    def temperature(self, position: str) -> float:
        """True temperature at a named position, C."""

    def truth(self) -> dict:
        """Ground truth for tests (absorbed power, true SLP/SAR, PCE, ...), SI units."""


class SimWorld:
    """A sample model, a clock and a random generator shared by a bench's emulators."""

    def __init__(self, clock: Clock, sample: SampleModel, seed: int = 0) -> None:
        self.clock = clock
        self.sample = sample
        self.rng = np.random.default_rng(seed)
        self.lock = threading.RLock()
        self._t0 = clock.now() - sample.t_s

    def sync(self) -> None:
        """Integrate the sample up to the clock's current time."""
        with self.lock:
            dt = self.clock.now() - (self._t0 + self.sample.t_s)
            if dt > 1e-9:
                self.sample.advance(dt)

    def now(self) -> float:
        return self.clock.now()

    def temperature(self, position: str) -> float:
        with self.lock:
            self.sync()
            return self.sample.temperature(position)

    def set_amf(self, frequency_Hz: float, field_A_m: float) -> None:
        with self.lock:
            self.sync()
            self.sample.set_amf(frequency_Hz, field_A_m)

    def set_laser(self, power_W: float, wavelength_nm: float, spot_area_cm2: float) -> None:
        with self.lock:
            self.sync()
            self.sample.set_laser(power_W, wavelength_nm, spot_area_cm2)

    def amf_power_W(self) -> float:
        """Power the field deposits in the sample now (0 if the model does not say), W."""
        fn = getattr(self.sample, "amf_power_W", None)
        return float(fn()) if fn is not None else 0.0

    def truth(self) -> dict:
        with self.lock:
            self.sync()
            return self.sample.truth()
