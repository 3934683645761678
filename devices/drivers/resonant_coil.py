"""AMF generator made of an Aim-TTi CPX400 supply feeding a resonant coil (home-built).

The supply's output drives a resonant inverter and its tank: the work coil (turns and
geometry in the bench file) and one capacitor of a bank, whose choice sets the
frequency.  The coil current follows the supply current through the resonant step-up,
``I_coil = k2(f) * I_supply`` (``k2`` per capacitor, measured on the bench), and the
field at the sample is ``H = k(f) * I_coil`` (the AMF kind's ``coil_calibration``).
This class is labctl's ``AMFDriver`` for such a coil: ``AMFGenerator`` on top applies
the bench's field and H*f limits exactly as for a commercial generator.

- currents in this driver are coil amperes; the supply is run in constant current at
  ``I_coil / k2`` with its voltage at ``supply_voltage_V`` (the ceiling) and its
  over-current trip at ``ocp_A``;
- the frequency is the fitted capacitor's: ``set_frequency`` accepts only that one and
  is refused while the output is on (a capacitor is changed by hand, then in the
  bench file);
- heat on/off is the supply output; an over-voltage or over-current trip reads as the
  ``POWER_ALARM`` fault and refuses heat on until :meth:`clear_faults` (``TRIPRST``).

*Modeled, not measured*: :func:`thick_solenoid_field_per_A` (the field at the centre of
a thick solenoid, used only to report the geometry's expectation beside the bench's
calibration); the supply has no heating timer, so ``timer_s`` counts clock time since
heat on.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, model_validator

from labctl.core.clock import Clock, WallClock
from labctl.core.errors import InstrumentError, InterlockError, LimitError
from labctl.core.transport import Transport
from labctl.devices.amf import AMFFault, AMFStatus
from labctl.devices.drivers.aimtti_cpx400 import CURRENT_MAX_A, OCP_RANGE_A, AimTTiCPX400

__all__ = [
    "ResonantCoilCPX400",
    "ResonantCoilOptions",
    "CoilGeometry",
    "thick_solenoid_field_per_A",
]


class CoilGeometry(BaseModel):
    """Work coil: turns, length and inner/outer winding radii (mm)."""

    model_config = ConfigDict(extra="forbid")

    turns: int = Field(gt=0)
    length_mm: float = Field(gt=0)
    inner_radius_mm: float = Field(gt=0)
    outer_radius_mm: float = Field(gt=0)

    @model_validator(mode="after")
    def _radii(self):
        if self.outer_radius_mm <= self.inner_radius_mm:
            raise ValueError("outer_radius_mm must exceed inner_radius_mm")
        return self


class ResonantCoilOptions(BaseModel):
    """Bench-file keys of a CPX400-driven coil besides the AMF kind's own."""

    model_config = ConfigDict(extra="forbid")

    output: int = Field(1, ge=1, le=2)  #: supply output wired to the inverter
    coil: CoilGeometry
    capacitor_bank: dict[str, float]  #: capacitor name -> resonance frequency, Hz
    capacitor: str  #: the fitted capacitor (a key of capacitor_bank)
    k2: dict[str, float]  #: capacitor name -> coil A per supply A
    supply_voltage_V: float = Field(60.0, gt=0, le=60)  #: voltage ceiling in CC operation
    ocp_A: float = Field(21.0, ge=OCP_RANGE_A[0], le=OCP_RANGE_A[1])  #: over-current trip

    @model_validator(mode="after")
    def _consistent(self):
        bad = {n: f for n, f in self.capacitor_bank.items() if not (math.isfinite(f) and f > 0)}
        if bad:
            raise ValueError(f"capacitor_bank frequencies must be positive: {bad}")
        if self.capacitor not in self.capacitor_bank:
            raise ValueError(
                f"capacitor {self.capacitor!r} is not in capacitor_bank "
                f"({', '.join(self.capacitor_bank)})"
            )
        if self.capacitor not in self.k2 or not (
            math.isfinite(self.k2[self.capacitor]) and self.k2[self.capacitor] > 0
        ):
            raise ValueError(
                f"k2 needs a positive value for the fitted capacitor {self.capacitor!r}"
            )
        return self


def thick_solenoid_field_per_A(coil: CoilGeometry) -> float:
    """Field at the centre of a thick solenoid per coil ampere, kA/m per A (modeled).

    ``H0 = N / (2 (R2 - R1)) * ln((R2 + sqrt(R2^2 + (L/2)^2)) / (R1 + sqrt(R1^2 + (L/2)^2)))``
    """
    r1, r2 = coil.inner_radius_mm / 1e3, coil.outer_radius_mm / 1e3
    half = coil.length_mm / 2e3
    ratio = (r2 + math.hypot(r2, half)) / (r1 + math.hypot(r1, half))
    return coil.turns / (2.0 * (r2 - r1)) * math.log(ratio) / 1e3


class ResonantCoilCPX400:
    """``AMFDriver`` for a resonant coil fed by output ``output`` of a CPX400."""

    kind = "amf"
    wire = "scpi"
    emulator = "aimtti_cpx400_coil"
    Options = ResonantCoilOptions

    def __init__(
        self,
        transport: Transport,
        *,
        coil: CoilGeometry | dict,
        capacitor_bank: dict[str, float],
        capacitor: str,
        k2: dict[str, float],
        output: int = 1,
        supply_voltage_V: float = 60.0,
        ocp_A: float = 21.0,
        clock: Clock | None = None,
    ) -> None:
        opts = ResonantCoilOptions(
            output=output,
            coil=coil,
            capacitor_bank=capacitor_bank,
            capacitor=capacitor,
            k2=k2,
            supply_voltage_V=supply_voltage_V,
            ocp_A=ocp_A,
        )
        self.options = opts
        self.clock = clock if clock is not None else WallClock()
        self.supply = AimTTiCPX400(transport, output=opts.output, clock=self.clock)
        self.transport = transport
        self.frequency_Hz = float(opts.capacitor_bank[opts.capacitor])
        self.k2 = float(opts.k2[opts.capacitor])
        self._on_since: float | None = None

    def __repr__(self) -> str:
        return f"<ResonantCoilCPX400 {self.options.capacitor} at {self.transport.address}>"

    @property
    def where(self) -> str:
        return f"coil on CPX400 output {self.options.output} at {self.transport.address}"

    def identity(self) -> dict[str, str]:
        """The supply's ``*IDN?`` plus the fitted capacitor and its frequency."""
        info = self.supply.identity()
        info["Capacitor"] = f"{self.options.capacitor} ({self.frequency_Hz / 1e3:g} kHz)"
        return info

    # -- AMFDriver ------------------------------------------------------------------
    def status(self) -> AMFStatus:
        """Output state, setpoint and measured coil current (A), supply power (W)."""
        heating = self.supply.output_on()
        setpoint = self.supply.current_setpoint()
        volts, amps = self.supply.readback()
        lsr = self.supply.limit_status()
        if not heating:
            self._on_since = None
        faults = AMFFault.POWER_ALARM if (lsr.ovp_tripped or lsr.ocp_tripped) else AMFFault.NONE
        since = self._on_since
        return AMFStatus(
            heating=heating,
            setpoint_A=setpoint * self.k2,
            current_A=amps * self.k2,
            power_W=volts * amps,
            frequency_Hz=self.frequency_Hz,
            timer_s=0.0 if since is None else max(0.0, self.clock.now() - since),
            faults=faults,
        )

    def take_control(self) -> None:
        """Clear status, set the voltage ceiling and the over-current trip level."""
        self.supply.clear()
        self.supply.set_voltage(self.options.supply_voltage_V)
        self.supply.set_ocp(self.options.ocp_A)

    def supply_current_for(self, coil_A: float) -> float:
        """Supply current (A) giving ``coil_A`` in the coil."""
        return coil_A / self.k2

    def set_current(self, current_A: float) -> None:
        """Coil current setpoint, A (sent as the supply's current limit)."""
        if isinstance(current_A, bool) or not math.isfinite(current_A) or current_A < 0:
            raise LimitError(
                f"{self.where}: coil current must be finite and >= 0, not {current_A!r}"
            )
        supply_A = self.supply_current_for(current_A)
        if supply_A > min(CURRENT_MAX_A, self.options.ocp_A):
            raise LimitError(
                f"{self.where}: {current_A:g} A in the coil needs {supply_A:.3f} A from the "
                f"supply (k2 {self.k2:g}), above its {min(CURRENT_MAX_A, self.options.ocp_A):g} A;"
                " nothing was sent"
            )
        self.supply.set_current(supply_A)

    def set_frequency(self, frequency_Hz: float) -> None:
        """Only the fitted capacitor's frequency; refused while the output is on."""
        if self.supply.output_on():
            raise InstrumentError(f"{self.where}: frequency change refused while the output is on")
        if not math.isclose(frequency_Hz, self.frequency_Hz, rel_tol=1e-3):
            raise InstrumentError(
                f"{self.where}: {frequency_Hz:g} Hz needs another capacitor; the fitted "
                f"{self.options.capacitor} resonates at {self.frequency_Hz:g} Hz (change the "
                "capacitor by hand, then 'capacitor' in the bench file)"
            )

    def heat_on(self) -> None:
        """Supply output on; ``InterlockError`` (nothing switched) while a trip is latched."""
        lsr = self.supply.limit_status()
        if lsr.ovp_tripped or lsr.ocp_tripped:
            which = "over-current" if lsr.ocp_tripped else "over-voltage"
            raise InterlockError(
                f"{self.where}: {which} trip latched; clear it (clear_faults) first"
            )
        self.supply.set_output(True)
        self._on_since = self.clock.now()

    def heat_off(self, broadcast: bool = False) -> None:
        """Supply output off (``broadcast`` has no meaning on this link)."""
        self.supply.set_output(False)
        self._on_since = None

    def clear_faults(self) -> AMFFault:
        """``TRIPRST``; returns the faults still latched."""
        self.supply.reset_trips()
        lsr = self.supply.limit_status()
        return AMFFault.POWER_ALARM if (lsr.ovp_tripped or lsr.ocp_tripped) else AMFFault.NONE

    def wait_for_current(
        self, tolerance_A: float = 5.0, timeout_s: float = 30.0, poll_s: float = 0.1
    ) -> AMFStatus:
        """Wait (clock time) until the coil current is within ``tolerance_A`` of the
        setpoint; ``InterlockError`` if the output went off (a trip), ``InstrumentError``
        on timeout (the supply is in constant voltage: load or ceiling too high)."""
        last: list[AMFStatus] = []

        def settled() -> bool:
            last[:] = [self.status()]
            st = last[0]
            return not st.heating or abs(st.current_A - st.setpoint_A) <= tolerance_A

        ok = self.clock.wait_until(settled, timeout_s, poll_s)
        st = last[-1]
        if not st.heating:
            why = ", ".join(st.faults.names) or "no trip latched"
            raise InterlockError(f"{self.where}: output went off while the current rose ({why})")
        if not ok:
            raise InstrumentError(
                f"{self.where}: coil current {st.current_A:g} A did not reach "
                f"{st.setpoint_A:g} A within {timeout_s:g} s"
            )
        return st
