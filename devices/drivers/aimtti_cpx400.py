"""Aim-TTi CPX400 (SP/DP/DXP) bench power supply: driver of its ASCII command set.

Reached over its USB/RS-232 virtual serial port or its LAN socket (TCP port 9221,
``visa://TCPIP0::<ip>::9221::SOCKET``).  Commands end with LF; replies end with CR LF.
Commands and reply formats used here (Aim-TTi CPX400 instruction manual, remote
commands; public client code that runs on real units agrees)::

    *IDN?      THURLBY THANDAR,CPX400DP,<serial>,<versions>
    V1 <v>     (no reply)   set output 1 voltage, V          V1?   ->  V1 12.00
    I1 <i>     (no reply)   set output 1 current limit, A   I1?   ->  I1 5.000
    V1O?       12.00V       output voltage readback          I1O?  ->  5.000A
    OP1 <0|1>  (no reply)   output off/on                    OP1?  ->  1
    OVP1 <v>   OCP1 <i>     over-voltage / over-current trip levels
    OVP1?      VP1 66.00    OCP1?  ->  CP1 22.00
    LSR1?      <nr1>        limit status register of output 1 (bits below)
    EER?       <nr1>        execution error register (0 = none), cleared by reading
    TRIPRST    (no reply)   reset the over-voltage/over-current trips
    *CLS, *RST

Limit status register bits: 0 constant voltage, 1 constant current, 2 over-voltage
trip, 3 over-current trip (the ones clients read; others are ignored here).  Setting
commands are confirmed by asking ``EER?`` afterwards: a non-zero register (100 = range
error, the command was ignored) raises :class:`CPX400Error`.  The ranges (0-60 V,
0-20 A) are checked before any byte is sent.  Not checked against a unit: the number of
decimals in replies (any decimal number is parsed).
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

from labctl.core.clock import Clock, WallClock
from labctl.core.errors import InstrumentError, LimitError
from labctl.core.transport import Transport

__all__ = ["AimTTiCPX400", "CPX400Error", "LimitStatus", "Readback"]

TERMINATOR_OUT = b"\n"  #: ends each command (manual: LF)
TERMINATOR_IN = b"\r\n"  #: ends each reply (manual: CR LF)
VOLTAGE_MAX_V = 60.0
CURRENT_MAX_A = 20.0
OVP_RANGE_V = (1.0, 66.0)
OCP_RANGE_A = (1.0, 22.0)
LSR_CV, LSR_CC, LSR_OVP, LSR_OCP = 1, 2, 4, 8
EER_TEXT = {100: "range error: the command was ignored"}
_SETTING = re.compile(r"\s*(?:V|I|VP|CP)\d\s+([-+]?\d+(?:\.\d*)?)\s*")
_READBACK = re.compile(r"\s*([-+]?\d+(?:\.\d*)?)\s*([VA])\s*")


class CPX400Error(InstrumentError):
    """The supply reported execution error ``code`` after ``command``."""

    def __init__(self, message: str, *, code: int, command: str) -> None:
        super().__init__(message)
        self.code = code
        self.command = command


class LimitStatus(NamedTuple):
    """Decoded ``LSR<n>?``."""

    constant_voltage: bool
    constant_current: bool
    ovp_tripped: bool
    ocp_tripped: bool
    raw: int


class Readback(NamedTuple):
    """Measured output voltage (V) and current (A)."""

    voltage_V: float
    current_A: float


class AimTTiCPX400:
    """One output (``output``: 1, or 2 on a DP) of a CPX400 behind ``transport``."""

    def __init__(
        self, transport: Transport, *, output: int = 1, clock: Clock | None = None
    ) -> None:
        if output not in (1, 2):
            raise ValueError(f"output must be 1 or 2, not {output!r}")
        self.transport = transport
        self.output = output
        self.clock = clock if clock is not None else WallClock()

    def __repr__(self) -> str:
        return f"<AimTTiCPX400 output {self.output} at {self.transport.address}>"

    # -- exchanges ------------------------------------------------------------------
    def query(self, command: str) -> str:
        """Send ``command`` and return its reply line without CR LF."""
        with self.transport.lock:
            raw = self.transport.query(command.encode("ascii") + TERMINATOR_OUT, TERMINATOR_IN)
        return raw[: -len(TERMINATOR_IN)].decode("ascii", "replace")

    def command(self, command: str) -> None:
        """Send a setting and check the execution error register afterwards."""
        with self.transport.lock:
            self.transport.write(command.encode("ascii") + TERMINATOR_OUT)
            code = self.execution_error()
        if code:
            what = EER_TEXT.get(code, "execution error")
            raise CPX400Error(
                f"{self.transport.address}: {command!r} refused: EER {code} ({what})",
                code=code,
                command=command,
            )

    # -- identity and status ----------------------------------------------------------
    def identity(self) -> dict[str, str]:
        """``*IDN?`` as ``{"Manufacturer", "Model", "Serial", "Version"}``."""
        reply = self.query("*IDN?")
        parts = [p.strip() for p in reply.split(",")]
        if len(parts) != 4 or not parts[1].startswith("CPX"):
            raise InstrumentError(
                f"{self.transport.address}: '*IDN?' reply {reply!r} is not a CPX400 identity"
            )
        return dict(zip(("Manufacturer", "Model", "Serial", "Version"), parts, strict=True))

    def execution_error(self) -> int:
        """``EER?``: the execution error register (0 = none); reading clears it."""
        return self._int(self.query("EER?"), "EER?")

    def limit_status(self) -> LimitStatus:
        """``LSR<n>?`` decoded."""
        cmd = f"LSR{self.output}?"
        raw = self._int(self.query(cmd), cmd)
        return LimitStatus(
            bool(raw & LSR_CV), bool(raw & LSR_CC), bool(raw & LSR_OVP), bool(raw & LSR_OCP), raw
        )

    def clear(self) -> None:
        """``*CLS``."""
        with self.transport.lock:
            self.transport.write(b"*CLS" + TERMINATOR_OUT)

    def reset_trips(self) -> None:
        """``TRIPRST``: clear latched over-voltage/over-current trips."""
        self.command("TRIPRST")

    # -- settings -------------------------------------------------------------------
    def set_voltage(self, voltage_V: float) -> None:
        """``V<n> <v>``: voltage setpoint, V (0-60)."""
        _check("voltage", voltage_V, 0.0, VOLTAGE_MAX_V, "V", self.transport.address)
        self.command(f"V{self.output} {voltage_V:.2f}")

    def set_current(self, current_A: float) -> None:
        """``I<n> <i>``: current limit, A (0-20)."""
        _check("current", current_A, 0.0, CURRENT_MAX_A, "A", self.transport.address)
        self.command(f"I{self.output} {current_A:.3f}")

    def set_ovp(self, voltage_V: float) -> None:
        """``OVP<n> <v>``: over-voltage trip level, V (1-66)."""
        _check("OVP level", voltage_V, *OVP_RANGE_V, "V", self.transport.address)
        self.command(f"OVP{self.output} {voltage_V:.2f}")

    def set_ocp(self, current_A: float) -> None:
        """``OCP<n> <i>``: over-current trip level, A (1-22)."""
        _check("OCP level", current_A, *OCP_RANGE_A, "A", self.transport.address)
        self.command(f"OCP{self.output} {current_A:.2f}")

    def set_output(self, on: bool) -> None:
        """``OP<n> 1`` / ``OP<n> 0``, confirmed with ``OP<n>?``."""
        self.command(f"OP{self.output} {1 if on else 0}")
        if self.output_on() != bool(on):
            raise InstrumentError(
                f"{self.transport.address}: output {self.output} did not switch "
                f"{'on' if on else 'off'} (a trip is latched?)"
            )

    # -- readings -------------------------------------------------------------------
    def voltage_setpoint(self) -> float:
        """``V<n>?``, V."""
        return self._setting(f"V{self.output}?")

    def current_setpoint(self) -> float:
        """``I<n>?``, A."""
        return self._setting(f"I{self.output}?")

    def ovp(self) -> float:
        """``OVP<n>?``, V."""
        return self._setting(f"OVP{self.output}?")

    def ocp(self) -> float:
        """``OCP<n>?``, A."""
        return self._setting(f"OCP{self.output}?")

    def output_on(self) -> bool:
        """``OP<n>?``."""
        cmd = f"OP{self.output}?"
        value = self._int(self.query(cmd), cmd)
        if value not in (0, 1):
            raise InstrumentError(f"{self.transport.address}: {cmd!r} replied {value!r}")
        return bool(value)

    def readback(self) -> Readback:
        """``V<n>O?`` and ``I<n>O?``: measured output voltage (V) and current (A)."""
        return Readback(
            self._measured(f"V{self.output}O?", "V"), self._measured(f"I{self.output}O?", "A")
        )

    # -- parsing --------------------------------------------------------------------
    def _bad(self, command: str, reply: str) -> InstrumentError:
        return InstrumentError(
            f"{self.transport.address}: cannot parse the reply to {command!r}: {reply!r}"
        )

    def _int(self, reply: str, command: str) -> int:
        try:
            return int(reply.strip())
        except ValueError:
            raise self._bad(command, reply) from None

    def _setting(self, command: str) -> float:
        reply = self.query(command)
        m = _SETTING.fullmatch(reply)
        if m is None:
            raise self._bad(command, reply)
        return float(m.group(1))

    def _measured(self, command: str, unit: str) -> float:
        reply = self.query(command)
        m = _READBACK.fullmatch(reply)
        if m is None or m.group(2) != unit:
            raise self._bad(command, reply)
        return float(m.group(1))


def _check(what: str, value: float, low: float, high: float, unit: str, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise LimitError(f"{where}: {what} must be a finite number, not {value!r}")
    if not low <= value <= high:
        raise LimitError(
            f"{where}: {what} {value:g} {unit} outside {low:g}-{high:g} {unit}; nothing was sent"
        )
