"""AMF generator: an ophyd device for a resonant-coil alternating magnetic field.

The generator drives a tank current ``I`` (A) at one of a few resonant frequencies;
the coil calibration gives the peak field at the sample, ``H = k(f) * I`` with ``k``
in kA/m per A.  Setpoints are checked against the bench's field and field-frequency
(H*f) limits before any byte reaches the generator; ``stop()`` and ``unstage()``
switch heat off.

Signals (units in ``describe()``): ``field`` (kA/m peak; set = setpoint, read =
from the measured current), ``current`` (A), ``output`` (0/1), ``power`` (W),
``frequency`` (Hz, configuration), ``field_setpoint`` (kA/m), ``hf_product``
(A m^-1 s^-1), ``interlock`` (1 while coolant flow or an over-temperature interlock is
tripped), ``fault`` (bitmask of latched faults, ``AMFFault``).  A ``read()`` asks the
generator for its status once and serves every signal from that snapshot.
"""

from __future__ import annotations

import enum
import math
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ophyd import Component as Cpt
from ophyd import Kind

from labctl.core.clock import Clock
from labctl.core.errors import InstrumentError, LabctlError, LimitError
from labctl.core.limits import BenchLimits
from labctl.devices.signals import DriverSignal, DriverSignalRO, LabDevice

__all__ = ["AMFDriver", "AMFGenerator", "AMFStatus", "AMFFault", "INTERLOCK_FAULTS"]


class AMFFault(enum.IntFlag):
    """Latched interlock faults, as a driver reports them (bit values: labctl's own)."""

    NONE = 0
    COOLANT_FLOW = 1  #: coolant flow below the flow switch threshold
    COIL_OVERTEMP = 2  #: work coil over-temperature
    CAPACITOR_OVERTEMP = 4  #: tank capacitor over-temperature
    POWER_ALARM = 8  #: power outside [almin, almax] for longer than aldelay

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the set bits, e.g. ``("COOLANT_FLOW",)``."""
        return tuple(f.name for f in AMFFault if f and f in self)


INTERLOCK_FAULTS = AMFFault.COOLANT_FLOW | AMFFault.COIL_OVERTEMP | AMFFault.CAPACITOR_OVERTEMP


@dataclass(frozen=True)
class AMFStatus:
    """One status snapshot.  Units: A (RMS tank current), W, Hz, s.

    ``timer_s`` counts up from heat on (the present or last heat cycle); ``countdown_s``
    is what is left of a timed heat cycle (0 when none runs).
    """

    heating: bool
    setpoint_A: float
    current_A: float
    power_W: float
    frequency_Hz: float
    timer_s: float
    countdown_s: float = 0.0
    faults: AMFFault = AMFFault.NONE

    @property
    def interlock_tripped(self) -> bool:
        """True when coolant flow or an over-temperature interlock is latched."""
        return bool(self.faults & INTERLOCK_FAULTS)


@runtime_checkable
class AMFDriver(Protocol):
    """What ``AMFGenerator`` needs from a generator driver (units: A, Hz)."""

    def status(self) -> AMFStatus:
        """Heating, setpoint, current, power, frequency, timers, latched faults."""

    def take_control(self) -> None:
        """Make the computer link the control location (no-op where the control location
        is a setting of the unit, or there is none)."""

    def set_current(self, current_A: float) -> None: ...

    def set_frequency(self, frequency_Hz: float) -> None: ...

    def heat_on(self) -> None:
        """Switch heat on; raise ``InterlockError`` (nothing energized) on a fault."""

    def heat_off(self, broadcast: bool = False) -> None: ...

    def clear_faults(self) -> AMFFault: ...

    def wait_for_current(
        self, tolerance_A: float = 5.0, timeout_s: float = 30.0, poll_s: float = 0.1
    ) -> AMFStatus: ...


class AMFGenerator(LabDevice):
    """AMF generator with a calibrated coil.

    Parameters
    ----------
    driver:
        an ``AMFDriver`` (e.g. ``AmbrellEasyHeat``).
    coil_calibration:
        frequency (Hz) -> k (kA/m peak per A of tank current); its keys are the
        frequencies the tank offers.
    settle_tolerance_A, settle_timeout_s:
        while heat is on, a field/current/output ``set`` finishes once the measured
        current is within the tolerance of the setpoint (clock time).
    """

    energizing = True

    frequency = Cpt(
        DriverSignal,
        getter="self._read_frequency",
        setter="self._write_frequency",
        validator="check_frequency",
        units="Hz",
        kind=Kind.config,
    )
    field = Cpt(
        DriverSignal,
        getter="self._read_field",
        setter="self._write_field",
        validator="check_field",
        units="kA/m",
        precision=3,
        kind=Kind.hinted,
    )
    current = Cpt(
        DriverSignal,
        getter="self._read_current",
        setter="self._write_current",
        validator="check_current",
        units="A",
        precision=1,
        kind=Kind.normal,
    )
    output = Cpt(
        DriverSignal,
        getter="self._read_output",
        setter="self._write_output",
        validator="check_output",
        value=0,
        kind=Kind.normal,
    )
    power = Cpt(DriverSignalRO, getter="self._read_power", units="W", precision=0, kind=Kind.hinted)
    field_setpoint = Cpt(
        DriverSignalRO,
        getter="self._read_field_setpoint",
        units="kA/m",
        precision=3,
        kind=Kind.normal,
    )
    hf_product = Cpt(DriverSignalRO, getter="self._read_hf", units="A m^-1 s^-1", kind=Kind.normal)
    interlock = Cpt(DriverSignalRO, getter="self._read_interlock", value=0, kind=Kind.normal)
    fault = Cpt(DriverSignalRO, getter="self._read_fault", value=0, kind=Kind.normal)

    def __init__(
        self,
        driver: AMFDriver,
        *,
        coil_calibration: dict[float, float],
        clock: Clock | None = None,
        limits: BenchLimits | None = None,
        name: str,
        settle_tolerance_A: float = 5.0,
        settle_timeout_s: float = 30.0,
        **kwargs,
    ) -> None:
        if not coil_calibration:
            raise LimitError(f"{name}: coil_calibration is empty; give Hz -> kA/m per A")
        for f, k in coil_calibration.items():
            if not (math.isfinite(f) and f > 0 and math.isfinite(k) and k > 0):
                raise LimitError(f"{name}: coil calibration {f!r} Hz -> {k!r} kA/m/A is invalid")
        self.coil_calibration = {float(f): float(k) for f, k in coil_calibration.items()}
        self.settle_tolerance_A = float(settle_tolerance_A)
        self.settle_timeout_s = float(settle_timeout_s)
        self._frequency_Hz: float | None = None  # last known state, for limit checks
        self._setpoint_A: float | None = None
        self._heating: bool | None = None
        self._has_control = False
        self._local = threading.local()
        super().__init__(driver, clock=clock, limits=limits, name=name, **kwargs)

    # -- coil calibration ----------------------------------------------------------
    @property
    def frequencies(self) -> tuple[float, ...]:
        """Frequencies the tank offers, Hz."""
        return tuple(self.coil_calibration)

    def k(self, frequency_Hz: float | None = None) -> float:
        """Coil constant at ``frequency_Hz`` (default: the selected one), kA/m per A."""
        f = self._known_frequency() if frequency_Hz is None else frequency_Hz
        key = self._calibrated(f)
        if key is None:
            raise InstrumentError(
                f"{self.name}: {f / 1e3:g} kHz has no coil calibration (calibrated: "
                f"{', '.join(f'{x / 1e3:g}' for x in self.frequencies)} kHz)"
            )
        return self.coil_calibration[key]

    def field_for_current(self, current_A: float, frequency_Hz: float | None = None) -> float:
        """Peak field (kA/m) produced by ``current_A`` at ``frequency_Hz``."""
        return self.k(frequency_Hz) * current_A

    def current_for_field(self, field_kA_m: float, frequency_Hz: float | None = None) -> float:
        """Tank current (A) giving ``field_kA_m`` at ``frequency_Hz``."""
        return field_kA_m / self.k(frequency_Hz)

    def _calibrated(self, frequency_Hz: float) -> float | None:
        for f in self.coil_calibration:
            if abs(f - frequency_Hz) <= 1e-3 * f:
                return f
        return None

    def _candidate_frequencies(self) -> tuple[float, ...]:
        """The selected frequency if known, else every one (a worst-case check)."""
        return (self._frequency_Hz,) if self._frequency_Hz is not None else self.frequencies

    # -- validators: raise before any byte is sent -------------------------------------
    def check_field(self, field_kA_m: float) -> None:
        """``LimitError`` unless ``field_kA_m`` is allowed at the (possible) frequencies."""
        for f in self._candidate_frequencies():
            self.limits.check_amf(f, field_kA_m, where=self.name)
            self.limits.check_amf_current(self.current_for_field(field_kA_m, f), where=self.name)

    def check_current(self, current_A: float) -> None:
        self.limits.check_amf_current(current_A, where=self.name)
        for f in self._candidate_frequencies():
            self.limits.check_amf(f, self.field_for_current(current_A, f), where=self.name)

    def check_frequency(self, frequency_Hz: float) -> None:
        if self._calibrated(frequency_Hz) is None:
            raise LimitError(
                f"{self.name}: {frequency_Hz!r} Hz is not an available frequency "
                f"({', '.join(f'{f:g}' for f in self.frequencies)} Hz); nothing was sent"
            )
        if self._heating:
            raise InstrumentError(
                f"{self.name}: frequency change refused while the output "
                "is on; switch the output off first"
            )
        if self._setpoint_A is not None:
            self.limits.check_amf(
                frequency_Hz,
                self.field_for_current(self._setpoint_A, frequency_Hz),
                where=self.name,
            )

    def check_output(self, value) -> None:
        """Switching on: read the generator's setpoint and frequency, check the limits."""
        if value not in (0, 1, True, False):
            raise LimitError(f"{self.name}: output must be 0 or 1, not {value!r}")
        if value:
            st = self._remember(self.driver.status())
            self.limits.check_amf_current(st.setpoint_A, where=self.name)
            self.limits.check_amf(
                st.frequency_Hz,
                self.field_for_current(st.setpoint_A, st.frequency_Hz),
                where=self.name,
            )

    # -- writes ------------------------------------------------------------------------
    def _control(self) -> None:
        if not self._has_control:
            self.driver.take_control()
            self._has_control = True

    def _settle(self) -> None:
        if self._heating:
            self._remember(
                self.driver.wait_for_current(self.settle_tolerance_A, self.settle_timeout_s)
            )

    def _write_field(self, field_kA_m: float) -> None:
        self._write_current(self.current_for_field(field_kA_m, self._known_frequency()))

    def _write_current(self, current_A: float) -> None:
        self.check_current(current_A)  # the frequency may only now be known
        self._control()
        self.driver.set_current(current_A)
        self._setpoint_A = float(current_A)
        self._settle()

    def _write_frequency(self, frequency_Hz: float) -> None:
        f = self._calibrated(frequency_Hz)
        self._control()
        self.driver.set_frequency(f)
        self._frequency_Hz = f

    def _write_output(self, value) -> None:
        if value:
            self._control()
            self.driver.heat_on()
            self._heating = True
            self._settle()
        else:
            self.driver.heat_off()
            self._heating = False

    def switch_off(self) -> None:
        """Heat off; if the unit does not confirm, broadcast ``hoff`` to the bus."""
        try:
            self.driver.heat_off()
        except LabctlError:
            self.driver.heat_off(broadcast=True)
        self._heating = False

    def clear_faults(self) -> AMFFault:
        """Clear latched faults whose cause is gone; returns those still latched."""
        return AMFFault(self.driver.clear_faults())

    def stop(self, *, success: bool = False) -> None:
        self.switch_off()
        super().stop(success=success)

    def unstage(self):
        self.switch_off()
        return super().unstage()

    # -- reads: one status snapshot per read() -----------------------------------------
    def _remember(self, st: AMFStatus) -> AMFStatus:
        key = self._calibrated(st.frequency_Hz)
        self._frequency_Hz = key if key is not None else st.frequency_Hz
        self._setpoint_A = st.setpoint_A
        self._heating = st.heating
        return st

    def _known_frequency(self) -> float:
        if self._frequency_Hz is None:
            self._remember(self.driver.status())
        return self._frequency_Hz

    @contextmanager
    def _snapshot(self):
        outer = getattr(self._local, "status", None) is not None
        if not outer:
            self._local.status = False  # fetched lazily by the first signal read
        try:
            yield
        finally:
            if not outer:
                self._local.status = None

    def status(self) -> AMFStatus:
        """The generator's status (within a ``read()``, the read's single snapshot)."""
        cached = getattr(self._local, "status", None)
        if cached:
            return cached
        st = self._remember(self.driver.status())
        if cached is False:
            self._local.status = st
        return st

    def read(self):
        with self._snapshot():
            return super().read()

    def read_configuration(self):
        with self._snapshot():
            return super().read_configuration()

    def _read_frequency(self) -> float:
        return self._frequency_for(self.status())

    def _frequency_for(self, st: AMFStatus) -> float:
        key = self._calibrated(st.frequency_Hz)
        return key if key is not None else st.frequency_Hz

    def _read_field(self) -> float:
        st = self.status()
        return self.field_for_current(st.current_A, self._frequency_for(st))

    def _read_field_setpoint(self) -> float:
        st = self.status()
        return self.field_for_current(st.setpoint_A, self._frequency_for(st))

    def _read_current(self) -> float:
        return self.status().current_A

    def _read_output(self) -> int:
        return int(self.status().heating)

    def _read_power(self) -> float:
        return self.status().power_W

    def _read_hf(self) -> float:
        st = self.status()
        f = self._frequency_for(st)
        return self.field_for_current(st.current_A, f) * 1e3 * f

    def _read_interlock(self) -> int:
        return int(self.status().interlock_tripped)

    def _read_fault(self) -> int:
        return int(self.status().faults)
