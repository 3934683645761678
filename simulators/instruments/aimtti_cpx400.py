"""Emulator of an Aim-TTi CPX400DP supply whose output 1 feeds a resonant coil's tank.

Speaks the command set described in ``labctl.devices.drivers.aimtti_cpx400`` (commands
end with LF, a CR before it is ignored; replies end with CR LF; commands are
case-insensitive).  The supply side:

- each output has a voltage setpoint (0-60 V), a current limit (0-20 A), OVP (1-66 V,
  default 66) and OCP (1-22 A, default 22) levels and an on/off state; a number out of
  range is ignored and sets the execution error register (``EER?``) to 100; an unknown
  command sets the command-error bit (32) of the standard event status register
  (``*ESR?``);
- into a resistive load ``R`` the output is in constant voltage (``I = V/R``) unless
  that exceeds the limit, then in constant current (``V = I_lim R``); the limit status
  register (``LSR<n>?``) has bit 0 for CV, 1 for CC, 2 for an OVP trip, 3 for an OCP
  trip; a trip switches the output off and stays latched until ``TRIPRST``;
- output 2 is open circuit (no load); ``*RST`` sets both outputs off, 1 V, 1 A.

The load on output 1 *(modeled)*: the inverter and tank seen from the supply as
``load_ohm``; the coil current is ``k2 * I_out`` for the fitted capacitor and the peak
field at the sample ``coil_calibration[f] * I_coil`` kA/m, handed to the world as soon
as the output changes (the tank rings up in microseconds).  Test hooks: ``load_ohm``
(e.g. a shorted turn lowers it), ``outputs``, :meth:`surge` (a load transient, such as
a failing capacitor, driving the current past the OCP level: the output trips).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from labctl.core.errors import ConfigError
from labctl.simulators.instruments.base import LineEmulator
from labctl.simulators.physics.world import SimWorld

__all__ = ["CPX400CoilEmulator", "SupplyOutput"]

V_MAX, I_MAX, POWER_MAX_W = 60.0, 20.0, 420.0
OVP_RANGE, OCP_RANGE = (1.0, 66.0), (1.0, 22.0)
LSR_CV, LSR_CC, LSR_OVP, LSR_OCP = 1, 2, 4, 8
EER_RANGE = 100
ESR_CME = 32
_NUM = r"\s+([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_COMMANDS = [
    (re.compile(r"\*idn\?"), "_idn"),
    (re.compile(r"\*rst"), "_rst"),
    (re.compile(r"\*cls"), "_cls"),
    (re.compile(r"\*esr\?"), "_esr"),
    (re.compile(r"eer\?"), "_eer"),
    (re.compile(r"triprst"), "_triprst"),
    (re.compile(r"(v|i)([12])o\?"), "_readback"),
    (re.compile(r"(v|i|ovp|ocp)([12])\?"), "_setting_query"),
    (re.compile(r"(v|i|ovp|ocp)([12])" + _NUM), "_set"),
    (re.compile(r"op([12])\?"), "_op_query"),
    (re.compile(r"op([12])\s+([01])"), "_op"),
    (re.compile(r"lsr([12])\?"), "_lsr"),
]
_RANGES = {"v": (0.0, V_MAX), "i": (0.0, I_MAX), "ovp": OVP_RANGE, "ocp": OCP_RANGE}
_QUERY_PREFIX = {"v": "V", "i": "I", "ovp": "VP", "ocp": "CP"}


@dataclass
class SupplyOutput:
    """One output's settings and latched trips."""

    v: float = 1.0
    i: float = 1.0
    ovp: float = 66.0
    ocp: float = 22.0
    on: bool = False
    trips: int = 0


class CPX400CoilEmulator(LineEmulator):
    """A CPX400DP whose output ``output`` drives the coil described by the bench entry.

    Parameters: ``coil_calibration`` ({Hz: kA/m per coil A}, from the AMF kind),
    ``capacitor_bank``/``capacitor``/``k2``/``output`` (the driver's options),
    ``load_ohm`` and ``serial`` (emulator options).
    """

    terminator = b"\n"

    def __init__(
        self,
        world: SimWorld,
        *,
        name: str,
        coil_calibration: dict[float, float],
        capacitor_bank: dict[str, float],
        capacitor: str,
        k2: dict[str, float],
        output: int = 1,
        load_ohm: float = 2.5,
        serial: str = "512345",
    ) -> None:
        super().__init__(world, name=name)
        if capacitor not in capacitor_bank or capacitor not in k2:
            raise ConfigError(f"{name}: capacitor {capacitor!r} needs a frequency and a k2")
        self.frequency_Hz = float(capacitor_bank[capacitor])
        calibrated = [f for f in coil_calibration if abs(f - self.frequency_Hz) <= 1e-3 * f]
        if not calibrated:
            raise ConfigError(
                f"{name}: coil_calibration has no entry at {self.frequency_Hz:g} Hz "
                f"(capacitor {capacitor})"
            )
        self.k_kA_m_per_A = float(coil_calibration[calibrated[0]])
        self.k2 = float(k2[capacitor])
        if output not in (1, 2):
            raise ConfigError(f"{name}: output must be 1 or 2")
        self.coil_output = output
        self.load_ohm = float(load_ohm)
        self.serial = str(serial)
        self.outputs = {1: SupplyOutput(), 2: SupplyOutput()}
        self.eer = 0
        self.esr = 0

    # -- electrical model -----------------------------------------------------------
    def _load(self, n: int) -> float | None:
        return self.load_ohm if n == self.coil_output else None

    def operating_point(self, n: int) -> tuple[float, float, int]:
        """``(V_out, I_out, mode bits)`` of output ``n`` now (trips not applied)."""
        out = self.outputs[n]
        if not out.on:
            return 0.0, 0.0, 0
        r = self._load(n)
        if r is None:  # open circuit
            return out.v, 0.0, LSR_CV
        if out.v / r <= out.i:
            volts, amps, mode = out.v, out.v / r, LSR_CV
        else:
            volts, amps, mode = out.i * r, out.i, LSR_CC
        if volts * amps > POWER_MAX_W:  # power limit: current falls back
            amps = (POWER_MAX_W / r) ** 0.5
            volts, mode = amps * r, 0
        return volts, amps, mode

    def _update(self) -> None:
        """Apply trips, then hand the coil's field to the world."""
        for n, out in self.outputs.items():
            volts, amps, _ = self.operating_point(n)
            if out.on and amps > out.ocp:
                out.trips |= LSR_OCP
                out.on = False
            if out.on and volts > out.ovp:
                out.trips |= LSR_OVP
                out.on = False
        self.world.set_amf(self.frequency_Hz, self.field_kA_m() * 1e3)

    def surge(self) -> None:
        """A load transient beyond the OCP level: the coil output trips (latched)."""
        with self.lock:
            out = self.outputs[self.coil_output]
            if out.on:
                out.on = False
                out.trips |= LSR_OCP
            self.world.set_amf(self.frequency_Hz, 0.0)

    def coil_current_A(self) -> float:
        """Coil current, A (k2 times the supply current)."""
        return self.k2 * self.operating_point(self.coil_output)[1]

    def field_kA_m(self) -> float:
        """Peak field at the sample, kA/m."""
        return self.k_kA_m_per_A * self.coil_current_A()

    # -- protocol -------------------------------------------------------------------
    def handle(self, line: str) -> str | None:
        cmd = line.strip().lower()
        if not cmd:
            return None
        for pattern, method in _COMMANDS:
            m = pattern.fullmatch(cmd)
            if m is not None:
                reply = getattr(self, method)(*m.groups())
                self._update()
                return None if reply is None else reply + "\r\n"
        self.esr |= ESR_CME
        return None

    def _idn(self) -> str:
        return f"THURLBY THANDAR, CPX400DP, {self.serial}, 2.03-1.00-1.01"

    def _rst(self) -> None:
        self.outputs = {1: SupplyOutput(), 2: SupplyOutput()}

    def _cls(self) -> None:
        self.esr = 0
        self.eer = 0

    def _esr(self) -> str:
        value, self.esr = self.esr, 0
        return str(value)

    def _eer(self) -> str:
        value, self.eer = self.eer, 0
        return str(value)

    def _triprst(self) -> None:
        for out in self.outputs.values():
            out.trips = 0

    def _readback(self, what: str, n: str) -> str:
        volts, amps, _ = self.operating_point(int(n))
        return f"{volts:.2f}V" if what == "v" else f"{amps:.3f}A"

    def _setting_query(self, what: str, n: str) -> str:
        value = getattr(self.outputs[int(n)], what)
        digits = 3 if what == "i" else 2
        return f"{_QUERY_PREFIX[what]}{n} {value:.{digits}f}"

    def _set(self, what: str, n: str, number: str) -> None:
        value = float(number)
        low, high = _RANGES[what]
        if not low <= value <= high:
            self.eer = EER_RANGE
            return
        setattr(self.outputs[int(n)], what, value)

    def _op_query(self, n: str) -> str:
        return "1" if self.outputs[int(n)].on else "0"

    def _op(self, n: str, state: str) -> None:
        out = self.outputs[int(n)]
        out.on = state == "1" and not out.trips  # a latched trip keeps the output off

    def _lsr(self, n: str) -> str:
        _, _, mode = self.operating_point(int(n))
        return str(mode | self.outputs[int(n)].trips)
