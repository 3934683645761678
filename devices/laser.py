"""ophyd device for a photothermal-therapy laser behind a laser diode / TEC controller.

The device speaks watts and W/cm^2; the driver speaks amperes.  Power and current
are related by the diode's measured P-I calibration above threshold,
``P = slope_W_per_A * (I - threshold_A)`` (linear above-threshold L-I curve), and
irradiance is ``E = P / A_spot`` with ``A_spot = pi (d/2)^2`` for the collimated spot
(PHYSICS.md section 3).  Every setpoint is checked against the bench limits
(:meth:`labctl.core.limits.BenchLimits.check_laser`) before any byte is sent.  The
ANSI Z136.1 skin MPE at the wavelength is reported as the ``mpe`` configuration
signal (and ``mpe_W_cm2``), alongside the bench's own irradiance cap.

One ``trigger()`` reads everything with one compound query (``driver.read_status()``);
each signal's next ``get()`` takes its value from that snapshot once, later gets ask
the instrument again.

Status signals ``interlock``, ``keylock`` and ``overtemperature`` read 1 when that
protection is tripped (interlock open, keylock off, over-temperature, or a latched
trip), 0 when clear, so a ``SuspendBoolHigh`` on them suspends while tripped.
"""

from __future__ import annotations

import math
import threading
from typing import Protocol, runtime_checkable

from ophyd import Component as Cpt

from labctl.core.clock import Clock
from labctl.core.errors import LimitError
from labctl.core.limits import BenchLimits, skin_mpe_W_cm2
from labctl.devices.signals import DriverSignal, DriverSignalRO, LabDevice, run_in_status

__all__ = ["LaserDriver", "Laser", "spot_area_cm2"]


@runtime_checkable
class LaserDriver(Protocol):
    """What :class:`Laser` needs from a laser controller driver (A, W, C)."""

    def laser_on(self) -> None:
        """Safe switch-on sequence (protections, TEC settled, output on, verified)."""

    def laser_off(self) -> None:
        """Output off and confirmed (current ~0)."""

    def shutdown(self) -> None:
        """Output off, then temperature control off."""

    def select_constant_current(self) -> None: ...

    def set_current_A(self, current_A: float) -> None: ...

    def get_current_A(self) -> float:
        """Current setpoint, A."""

    def get_emission(self) -> bool: ...

    def measure_current_A(self) -> float: ...

    def measure_power_W(self) -> float:
        """Monitor photodiode power, W."""

    def get_tec_temperature_C(self) -> float: ...

    def get_tec_setpoint_C(self) -> float: ...

    def set_tec_setpoint_C(self, value_C: float) -> None: ...

    def trips(self) -> dict[str, bool]:
        """``{"interlock", "keylock", "overtemperature"}`` -> tripped."""

    def read_status(self) -> dict[str, float | bool]:
        """Keys: power_W, current_setpoint_A, current_A, tec_temperature_C, emission,
        interlock, keylock, overtemperature."""


def spot_area_cm2(spot_diameter_mm: float) -> float:
    """Area of a circular spot of diameter ``spot_diameter_mm`` (mm), cm^2."""
    return math.pi * (spot_diameter_mm / 10.0 / 2.0) ** 2


class Laser(LabDevice):
    """A CW laser (e.g. 808 nm PTT diode) with TEC, fiber and collimator onto a spot.

    Parameters (units): ``wavelength_nm`` (nm), ``spot_diameter_mm`` (mm),
    ``slope_W_per_A`` (W/A) and ``threshold_A`` (A) of the P-I calibration,
    ``status_max_age_s`` (s of clock time a trigger snapshot stays usable).
    """

    energizing = True

    power = Cpt(
        DriverSignal,
        getter="self._read_power_W",
        setter="self._apply_power_W",
        validator="check_power",
        units="W",
        precision=4,
        kind="hinted",
    )
    irradiance = Cpt(
        DriverSignal,
        getter="self._read_irradiance_W_cm2",
        setter="self._apply_irradiance_W_cm2",
        validator="check_irradiance",
        units="W/cm^2",
        precision=4,
        kind="hinted",
    )
    emission = Cpt(
        DriverSignal,
        getter="self._read_emission",
        setter="self._apply_emission",
        validator="check_emission",
        value=0,
        kind="normal",
    )
    power_setpoint = Cpt(
        DriverSignalRO, getter="self._read_power_setpoint_W", units="W", precision=4, kind="normal"
    )
    current = Cpt(
        DriverSignalRO, getter="self._read_current_A", units="A", precision=4, kind="normal"
    )
    tec_temperature = Cpt(
        DriverSignalRO,
        getter="self._read_tec_temperature_C",
        units="degC",
        precision=3,
        kind="normal",
    )
    interlock = Cpt(DriverSignalRO, getter="self._read_interlock", value=0, kind="normal")
    keylock = Cpt(DriverSignalRO, getter="self._read_keylock", value=0, kind="normal")
    overtemperature = Cpt(
        DriverSignalRO, getter="self._read_overtemperature", value=0, kind="normal"
    )
    tec_setpoint = Cpt(
        DriverSignal,
        getter="get_tec_setpoint_C",
        setter="set_tec_setpoint_C",
        validator="check_tec_setpoint",
        units="degC",
        kind="config",
    )
    wavelength = Cpt(DriverSignalRO, getter="self._get_wavelength_nm", units="nm", kind="config")
    spot_area = Cpt(DriverSignalRO, getter="self._get_spot_area_cm2", units="cm^2", kind="config")
    mpe = Cpt(DriverSignalRO, getter="self._get_mpe_W_cm2", units="W/cm^2", kind="config")

    def __init__(
        self,
        driver: LaserDriver,
        *,
        wavelength_nm: float,
        spot_diameter_mm: float,
        slope_W_per_A: float,
        threshold_A: float,
        clock: Clock | None = None,
        limits: BenchLimits | None = None,
        name: str,
        status_max_age_s: float = 1.0,
        **kwargs,
    ) -> None:
        if not (spot_diameter_mm > 0 and slope_W_per_A > 0 and threshold_A >= 0):
            raise ValueError(f"{name}: spot diameter and P-I slope must be > 0, threshold >= 0")
        self.wavelength_nm = float(wavelength_nm)
        self.spot_diameter_mm = float(spot_diameter_mm)
        self.spot_area_cm2 = spot_area_cm2(spot_diameter_mm)
        self.slope_W_per_A = float(slope_W_per_A)
        self.threshold_A = float(threshold_A)
        try:
            self.mpe_W_cm2 = skin_mpe_W_cm2(self.wavelength_nm)  #: ANSI Z136.1 skin MPE
        except LimitError:
            self.mpe_W_cm2 = math.nan
        self.status_max_age_s = float(status_max_age_s)
        self._power_setpoint_W: float | None = None
        self._cc_selected = False
        self._snap_lock = threading.Lock()
        self._snapshot: dict = {}
        self._snapshot_t = -math.inf
        self._consumed: set[str] = set()
        super().__init__(driver, clock=clock, limits=limits, name=name, **kwargs)

    # -- calibration ----------------------------------------------------------------------
    def power_to_current_A(self, power_W: float) -> float:
        """LD current for an optical power (0 W -> 0 A, not threshold), A."""
        return 0.0 if power_W <= 0 else self.threshold_A + power_W / self.slope_W_per_A

    def current_to_power_W(self, current_A: float) -> float:
        """Optical power expected at an LD current, W."""
        return self.slope_W_per_A * max(current_A - self.threshold_A, 0.0)

    # -- validators (run before any byte is sent) -----------------------------------------
    def check_power(self, power_W: float) -> None:
        self.limits.check_laser(power_W, self.spot_area_cm2, where=self.name)

    def check_irradiance(self, irradiance_W_cm2: float) -> None:
        self.limits.check_laser(
            float(irradiance_W_cm2) * self.spot_area_cm2, self.spot_area_cm2, where=self.name
        )

    def check_emission(self, on) -> None:
        if on and self._power_setpoint_W is not None:
            self.check_power(self._power_setpoint_W)

    def check_tec_setpoint(self, value_C: float) -> None:
        if not math.isfinite(float(value_C)):
            raise LimitError(f"{self.name}: TEC setpoint must be finite, not {value_C!r}")

    # -- setters ----------------------------------------------------------------------------
    def _apply_power_W(self, power_W: float) -> None:
        if not self._cc_selected:
            self.driver.select_constant_current()
            self._cc_selected = True
        self._invalidate()
        self.driver.set_current_A(self.power_to_current_A(float(power_W)))
        self._power_setpoint_W = float(power_W)

    def _apply_irradiance_W_cm2(self, irradiance_W_cm2: float) -> None:
        self._apply_power_W(float(irradiance_W_cm2) * self.spot_area_cm2)

    def _apply_emission(self, on) -> None:
        self._invalidate()
        if not on:
            self.driver.laser_off()
            return
        # the setpoint may have been set elsewhere: check what would be emitted
        self.check_power(self.current_to_power_W(self.driver.get_current_A()))
        self.driver.laser_on()

    # -- readings ---------------------------------------------------------------------------
    def trigger(self):
        """Read everything with one compound query; the signals' next gets use it."""

        def work() -> None:
            status = dict(self.driver.read_status())
            with self._snap_lock:
                self._snapshot, self._consumed = status, set()
                self._snapshot_t = self.clock.now()

        return run_in_status(work, self.clock, obj=self)

    def _invalidate(self) -> None:
        with self._snap_lock:
            self._snapshot = {}

    def _take(self, signal: str, key: str, fallback):
        with self._snap_lock:
            fresh = self.clock.now() - self._snapshot_t <= self.status_max_age_s
            if fresh and key in self._snapshot and signal not in self._consumed:
                self._consumed.add(signal)
                return self._snapshot[key]
        return fallback()

    def _read_power_W(self) -> float:
        return float(self._take("power", "power_W", self.driver.measure_power_W))

    def _read_irradiance_W_cm2(self) -> float:
        power = self._take("irradiance", "power_W", self.driver.measure_power_W)
        return float(power) / self.spot_area_cm2

    def _read_power_setpoint_W(self) -> float:
        current = self._take("power_setpoint", "current_setpoint_A", self.driver.get_current_A)
        return self.current_to_power_W(float(current))

    def _read_emission(self) -> int:
        return int(bool(self._take("emission", "emission", self.driver.get_emission)))

    def _read_current_A(self) -> float:
        return float(self._take("current", "current_A", self.driver.measure_current_A))

    def _read_tec_temperature_C(self) -> float:
        return float(
            self._take("tec_temperature", "tec_temperature_C", self.driver.get_tec_temperature_C)
        )

    def _read_trip(self, which: str) -> int:
        return int(bool(self._take(which, which, lambda: self.driver.read_status()[which])))

    def _read_interlock(self) -> int:
        return self._read_trip("interlock")

    def _read_keylock(self) -> int:
        return self._read_trip("keylock")

    def _read_overtemperature(self) -> int:
        return self._read_trip("overtemperature")

    def _get_wavelength_nm(self) -> float:
        return self.wavelength_nm

    def _get_spot_area_cm2(self) -> float:
        return self.spot_area_cm2

    def _get_mpe_W_cm2(self) -> float:
        return self.mpe_W_cm2

    # -- de-energizing ---------------------------------------------------------------------
    def stage(self):
        self._cc_selected = False
        return super().stage()

    def unstage(self):
        """Emission off, then ophyd's unstage."""
        self._invalidate()
        self.driver.laser_off()
        return super().unstage()

    def stop(self, *, success: bool = False) -> None:
        """Emission off (called by the RunEngine on pause/abort/halt)."""
        self._invalidate()
        self.driver.laser_off()
        super().stop(success=success)
