"""Ambrell EASYHEAT induction heating system: RS-485 ASCII protocol driver.

Sources, and which is followed where they differ:

- the EASYHEAT manual's "Command set" table: frames ``address,command[,argument]``
  + CR, commas mandatory, no spaces, not case-sensitive; ``address`` 1-32 (default 1),
  0 broadcasts to every unit (``0,hoff``); ``amps,#.##`` (only while the control location
  is RS-485), ``%amps,#`` (when enabled in the configuration menu), ``almin,#``,
  ``almax,#``, ``aldelay,#.##``, ``alon``/``aloff``, ``maxamps``, ``?``;
- the ISIS EPICS IOC (StreamDevice protocol file, used on real units): replies are
  framed ``<CR><LF>payload<CR><LF>``; ``SYSID`` answers the system id, ``RDATA`` the
  line ``address,heat,setpoint A,tank A,power W,frequency kHz,count-down ms,count-up ms``
  (e.g. ``1,1,280.0,280.0,1006,286,0,972``), ``STAT`` the line ``mains V,total time s,
  max power W,max heat-sink C,max enclosure C``.  Status is read with ``RDATA`` as ISIS
  does (public client code also sends ``stat``, but without parsing its reply);
- public client code (hBN setup, weaker evidence): ``maxamps`` answers a bare number,
  ``temp``, ``rtemp`` and ``timer,<s>`` exist.

Model, not documented (kept in the block below so it can be corrected in one place):
set commands get no reply, so every setting that ``RDATA`` shows is confirmed by
reading it back (a unit whose control location is the front panel ignores ``amps``: the
read-back says so); ``hon`` switches heat on; ``faults`` answers the latched interlock
bitmask (``AMFFault``) and ``reset`` clears it; ``tank,<kHz>`` selects a resonant
frequency of a switchable capacitor bank; ``temp`` is the heat-sink temperature, C.
A broadcast is never answered, so ``heat_off(broadcast=True)`` cannot confirm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from labctl.core.clock import Clock, WallClock
from labctl.core.errors import ConfigError, InstrumentError, InterlockError, LabctlError
from labctl.core.transport import Transport
from labctl.devices.amf import AMFFault, AMFStatus
from labctl.devices.drivers._resilience import with_retries

__all__ = ["AmbrellEasyHeat", "AMFStatus", "AMFFault", "EasyHeatStat"]

TERMINATOR = b"\r"  #: ends every frame sent to the generator (manual; ISIS OutTerminator)
REPLY_TERMINATOR = b"\r\n"  #: ISIS: replies are <CR><LF>payload<CR><LF>
BROADCAST_ADDRESS = 0  #: manual: address 0 reaches all units
CMD_SYSID, CMD_RDATA, CMD_STAT = "SYSID", "RDATA", "STAT"  #: ISIS protocol file
# --- Protocol details not in any source (model; correct against hardware) -------------
CMD_HEAT_ON = "hon"  #: heat on (the manual's page shows only ``hoff``)
CMD_FAULTS = "faults"  #: latched fault bitmask query
CMD_RESET = "reset"  #: clear latched faults whose cause is gone
CMD_TANK = "tank"  #: select a resonant frequency, kHz (switchable capacitor bank)
SETPOINT_TOLERANCE_A = 0.06  #: RDATA shows the setpoint to 0.1 A
FREQUENCY_TOLERANCE = 0.01  #: relative: RDATA shows whole kHz


@dataclass(frozen=True)
class EasyHeatStat:
    """``STAT`` line (ISIS field order).  Units: V, s, W, C, C."""

    mains_V: float
    total_time_s: float
    max_power_W: float
    max_heatsink_C: float
    max_enclosure_C: float


def _num(value: float, decimals: int) -> str:
    """Format a number the way the manual's examples do: ``100``, ``10.21``."""
    text = f"{round(float(value), decimals):.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


class AmbrellEasyHeat:
    """Driver of one EASYHEAT unit on an RS-485 bus.

    Parameters
    ----------
    transport:
        an open ``labctl.core.transport.Transport``.
    unit_address:
        the unit's bus address, 1-32 (front-panel setting; default 1).
    clock:
        the bench clock, used for waits (default ``WallClock``).
    retries:
        how many times a query or ``hoff`` is repeated after a timeout or an unparsable
        reply; ``hon`` and setpoints are never repeated.
    """

    kind = "amf"
    wire = "serial"
    emulator = "ambrell_easyheat"

    class Options(BaseModel):
        """Bench-file keys of an EASYHEAT entry: ``unit_address`` on the RS-485 bus."""

        model_config = ConfigDict(extra="forbid")
        unit_address: int = Field(1, ge=1, le=32)

    def __init__(
        self,
        transport: Transport,
        *,
        unit_address: int = 1,
        clock: Clock | None = None,
        retries: int = 2,
    ) -> None:
        if not isinstance(unit_address, int) or not 1 <= unit_address <= 32:
            raise ConfigError(f"EASYHEAT unit_address must be 1-32, not {unit_address!r}")
        self.transport = transport
        self.unit_address = unit_address
        self.clock = clock if clock is not None else WallClock()
        self.retries = int(retries)
        self.retried = 0  #: exchanges repeated so far
        self._last_status: tuple[float, AMFStatus] | None = None  # (clock time, status)
        self._max_current_A: float | None = None

    def __repr__(self) -> str:
        return f"<AmbrellEasyHeat unit {self.unit_address} at {self.transport.address}>"

    # -- framing ----------------------------------------------------------------------
    def _frame(
        self, command: str, argument: str | None = None, address: int | None = None
    ) -> bytes:
        address = self.unit_address if address is None else address
        text = f"{address},{command}" if argument is None else f"{address},{command},{argument}"
        return text.encode("ascii") + TERMINATOR

    def _where(self, frame: bytes) -> str:
        return f"EASYHEAT unit {self.unit_address} at {self.transport.address}, command {frame!r}"

    def _read_line(self, frame: bytes) -> str:
        raw = self.transport.read_until(REPLY_TERMINATOR, command=frame)
        try:
            return raw[: -len(REPLY_TERMINATOR)].decode("ascii")
        except UnicodeDecodeError as exc:
            raise InstrumentError(f"{self._where(frame)}: non-ASCII reply {raw!r}") from exc

    def send(self, command: str, argument: str | None = None, address: int | None = None) -> None:
        """Send one frame that gets no reply (a setting, or any broadcast)."""
        frame = self._frame(command, argument, address)
        with self.transport.lock:
            self._last_status = None  # any setting may change the status
            self.transport.discard_input()
            self.transport.write(frame)

    def query(self, command: str) -> str:
        """Send one frame and return the reply's payload (the line after <CR><LF>)."""
        frame = self._frame(command)
        with self.transport.lock:
            self.transport.discard_input()
            self.transport.write(frame)
            first = self._read_line(frame)
            return first if first else self._read_line(frame)

    def _retrying(self, once):
        """Run an idempotent exchange (query or ``hoff``) with the retry policy."""

        def retried(exc: Exception) -> None:
            self.retried += 1

        return with_retries(once, retries=self.retries, transport=self.transport, on_retry=retried)

    def _numbers(self, command: str, count: int) -> list[float]:
        frame = self._frame(command)
        fields = self.query(command).split(",")
        if len(fields) != count:
            raise InstrumentError(
                f"{self._where(frame)}: expected {count} comma-separated values, got {fields!r}"
            )
        return [_parse_float(f, frame, self) for f in fields]

    def _query_number(self, command: str) -> float:
        return self._retrying(lambda: self._numbers(command, 1)[0])

    # -- identity and unit status (ISIS) ------------------------------------------------
    def system_id(self) -> int:
        """``SYSID``: the unit's system id."""
        value = self._query_number(CMD_SYSID)
        if value != int(value):
            raise InstrumentError(f"{self._where(self._frame(CMD_SYSID))}: id {value!r}")
        return int(value)

    def unit_status(self) -> EasyHeatStat:
        """``STAT``: mains voltage, total time and the recorded maxima."""
        return EasyHeatStat(*self._retrying(lambda: self._numbers(CMD_STAT, 5)))

    def temperature(self) -> float:
        """``temp``: heat-sink temperature, C (meaning: model, see module docstring)."""
        return self._query_number("temp")

    # -- control location -------------------------------------------------------------
    def take_control(self) -> None:
        """Nothing to send: the control location (front panel or RS-485) is a setting
        made on the unit.  ``set_current`` reads its setpoint back and says when the
        unit ignored it."""

    # -- setpoints --------------------------------------------------------------------
    def set_current(self, current_A: float) -> None:
        """``amps,<A>``: tank current setpoint, A (0.01 A), confirmed with ``RDATA``."""
        _check_range("current (A)", current_A, 0.0, math.inf)
        text = _num(current_A, 2)
        self.send("amps", text)
        self._confirm_setpoint(float(text), self._frame("amps", text))

    def set_current_percent(self, percent: float) -> None:
        """``%amps,<pct>``: setpoint as a percentage of ``maxamps`` (0-100), confirmed."""
        _check_range("current percentage", percent, 0.0, 100.0)
        if self._max_current_A is None:
            self._max_current_A = self.max_current()
        text = _num(percent, 0)
        self.send("%amps", text)
        expected = round(float(text) / 100 * self._max_current_A, 2)
        self._confirm_setpoint(expected, self._frame("%amps", text))

    def _confirm_setpoint(self, expected_A: float, frame: bytes) -> None:
        st = self.read_status_line()
        if abs(st.setpoint_A - expected_A) > SETPOINT_TOLERANCE_A:
            raise InstrumentError(
                f"{self._where(frame)}: the unit ignored the setpoint (RDATA reads "
                f"{st.setpoint_A:g} A): is its control location RS-485, and %amps enabled "
                "in its configuration menu?"
            )

    def max_current(self) -> float:
        """``maxamps``: the largest current setpoint the unit accepts, A."""
        value = self._query_number("maxamps")
        self._max_current_A = value
        return value

    def set_frequency(self, frequency_Hz: float) -> None:
        """Make ``frequency_Hz`` the working frequency.

        Nothing is sent if ``RDATA`` already shows it; otherwise ``tank,<kHz>`` (model:
        a switchable capacitor bank) and a read-back.  A unit whose workhead has one
        tank circuit raises ``InstrumentError`` naming the frequency it has.
        """
        _check_range("frequency (Hz)", frequency_Hz, 1.0, math.inf)
        if _same_frequency(self.read_status_line().frequency_Hz, frequency_Hz):
            return
        text = _num(frequency_Hz / 1e3, 1)
        self.send(CMD_TANK, text)
        now = self.read_status_line().frequency_Hz
        if not _same_frequency(now, frequency_Hz):
            raise InstrumentError(
                f"{self._where(self._frame(CMD_TANK, text))}: the unit runs at "
                f"{now / 1e3:g} kHz, not {frequency_Hz / 1e3:g} kHz (refused while heating; "
                "a single-tank workhead needs other capacitors)"
            )

    # -- heat -------------------------------------------------------------------------
    def heat_on(self) -> None:
        """``hon``, confirmed with ``RDATA``; ``InterlockError`` (nothing sent) if a fault
        is latched, or if heat does not come on because one is."""
        with self.transport.lock:
            faults = self.faults()
            if faults:
                raise InterlockError(
                    f"EASYHEAT unit {self.unit_address} at {self.transport.address}: heat on "
                    f"refused, faults latched: {', '.join(faults.names)}; fix the cause, "
                    "then clear_faults()"
                )
            self.send(CMD_HEAT_ON)
            if self.read_status_line().heating:
                return
            faults = self.faults()
        cls = InterlockError if faults else InstrumentError
        why = f"faults latched: {', '.join(faults.names)}" if faults else "no fault latched"
        raise cls(
            f"{self._where(self._frame(CMD_HEAT_ON))}: heat did not come on ({why}); is the "
            "control location RS-485?"
        )

    def heat_off(self, broadcast: bool = False) -> None:
        """``hoff``, confirmed with ``RDATA`` (repeated until confirmed).
        ``broadcast=True`` sends ``0,hoff`` to every unit on the bus: no unit replies,
        so confirm with ``status()``."""
        if broadcast:
            self.send("hoff", address=BROADCAST_ADDRESS)
            return

        def once() -> None:
            self.send("hoff")
            if self._rdata_once().heating:
                raise InstrumentError(f"{self._where(self._frame('hoff'))}: still heating")

        self._retrying(once)

    def emergency_off(self) -> None:
        """Heat off by every means (for a safety monitor): ``hoff`` (retried), else the
        broadcast ``0,hoff``; then confirm with ``RDATA``.

        Raises ``InstrumentError`` (listing what failed) if heat is not confirmed off.
        """
        problems = []
        try:
            self.heat_off()
            return
        except LabctlError as exc:
            problems.append(str(exc))
        try:
            self.heat_off(broadcast=True)
            if not self.read_status_line().heating:
                return
            problems.append("RDATA still reads heating after the broadcast")
        except LabctlError as exc:
            problems.append(f"broadcast: {exc}")
        raise InstrumentError(
            f"EASYHEAT unit {self.unit_address} at {self.transport.address}: heat not "
            "confirmed off: " + "; ".join(problems)
        )

    def set_timer(self, seconds: float) -> None:
        """``timer,<s>``: heat cycle length, s (0: unlimited; meaning: model)."""
        _check_range("timer (s)", seconds, 0.0, 99999.0)
        self.send("timer", _num(seconds, 1))

    # -- power-window alarm (manual; no read-back exists) ------------------------------
    def set_alarm_min(self, power_W: float) -> None:
        """``almin,<W>``: lower bound of the power window, W (integer)."""
        _check_range("alarm minimum (W)", power_W, 0.0, math.inf)
        self.send("almin", _num(power_W, 0))

    def set_alarm_max(self, power_W: float) -> None:
        """``almax,<W>``: upper bound of the power window, W (integer)."""
        _check_range("alarm maximum (W)", power_W, 0.0, math.inf)
        self.send("almax", _num(power_W, 0))

    def set_alarm_delay(self, delay_s: float) -> None:
        """``aldelay,<s>``: how long power may be outside the window, s (0.01 s)."""
        _check_range("alarm delay (s)", delay_s, 0.0, math.inf)
        self.send("aldelay", _num(delay_s, 2))

    def set_alarm_enabled(self, enabled: bool) -> None:
        """``alon`` / ``aloff``."""
        self.send("alon" if enabled else "aloff")

    def set_power_window(
        self, min_W: float, max_W: float, delay_s: float, enabled: bool = True
    ) -> None:
        """Program and enable (or not) the whole power-window alarm."""
        if min_W > max_W:
            raise InstrumentError(f"power window: minimum {min_W} W exceeds maximum {max_W} W")
        self.set_alarm_min(min_W)
        self.set_alarm_max(max_W)
        self.set_alarm_delay(delay_s)
        self.set_alarm_enabled(enabled)

    # -- status -----------------------------------------------------------------------
    def read_status_line(self) -> AMFStatus:
        """``RDATA`` alone (faults left at ``NONE``)."""
        return self._retrying(self._rdata_once)

    def _rdata_once(self) -> AMFStatus:
        frame = self._frame(CMD_RDATA)
        fields = self.query(CMD_RDATA).split(",")
        if len(fields) != 8 or fields[1] not in ("0", "1"):
            raise InstrumentError(f"{self._where(frame)}: malformed RDATA line {fields!r}")
        if fields[0] != str(self.unit_address):
            raise InstrumentError(f"{self._where(frame)}: RDATA from address {fields[0]!r}")
        v = [_parse_float(f, frame, self) for f in fields[2:]]
        return AMFStatus(
            heating=fields[1] == "1",
            setpoint_A=v[0],
            current_A=v[1],
            power_W=v[2],
            frequency_Hz=v[3] * 1e3,
            timer_s=v[5] / 1e3,
            countdown_s=v[4] / 1e3,
        )

    def faults(self) -> AMFFault:
        """``faults`` (model): the latched interlock faults."""
        value = self._query_number(CMD_FAULTS)
        if value != int(value) or value < 0:
            raise InstrumentError(f"{self._where(self._frame(CMD_FAULTS))}: fault bits {value!r}")
        return AMFFault(int(value) & 0xFF)

    def status(self) -> AMFStatus:
        """``RDATA`` and latched faults, read back to back.

        Callers at the same clock instant with no exchange in between (the safety
        monitor, then a plan, on a lockstep clock) share one reading: no time passed.
        """
        with self.transport.lock:
            now = self.clock.now()
            last = self._last_status
            if last is not None and last[0] == now:
                return last[1]
            st = self.read_status_line()
            status = AMFStatus(
                st.heating,
                st.setpoint_A,
                st.current_A,
                st.power_W,
                st.frequency_Hz,
                st.timer_s,
                st.countdown_s,
                self.faults(),
            )
            self._last_status = (now, status)
        return status

    def clear_faults(self) -> AMFFault:
        """``reset`` (model); returns the faults still latched (their cause is present)."""
        with self.transport.lock:
            self.send(CMD_RESET)
            return self.faults()

    def help(self) -> list[str]:
        """``?``: the unit's command list, one entry per line (read until the line is
        quiet)."""
        frame = self._frame("?")
        with self.transport.lock:
            first = self.query("?")
            rest = bytearray()
            while len(rest) < 65536:
                chunk = self.transport.read_some(timeout=0.2)
                if not chunk:
                    break
                rest.extend(chunk)
        text = first + "\r\n" + rest.decode("ascii", errors="replace")
        lines = [line for line in text.split("\r\n") if line.strip()]
        if not lines:
            raise InstrumentError(f"{self._where(frame)}: empty command list")
        return lines

    def wait_for_current(
        self, tolerance_A: float = 5.0, timeout_s: float = 30.0, poll_s: float = 0.1
    ) -> AMFStatus:
        """Wait (clock time) until the current is within ``tolerance_A`` of the setpoint.

        Polls ``RDATA`` alone; the latched faults are read only if heat went off
        meanwhile, to say why: that raises ``InterlockError``.  Raises
        ``InstrumentError`` on timeout.  Returns the last status line (faults unread).
        """
        last: list[AMFStatus] = []

        def settled() -> bool:
            st = self.read_status_line()
            last[:] = [st]
            if not st.heating:
                return True
            return abs(st.current_A - st.setpoint_A) <= tolerance_A

        ok = self.clock.wait_until(settled, timeout_s, poll_s)
        st = last[-1]
        if not st.heating:
            why = ", ".join(self.faults().names) or "no fault latched"
            raise InterlockError(
                f"EASYHEAT unit {self.unit_address} at {self.transport.address}: heat went "
                f"off while the current ramped ({why})"
            )
        if not ok:
            raise InstrumentError(
                f"EASYHEAT unit {self.unit_address} at {self.transport.address}: current "
                f"{st.current_A:g} A did not reach {st.setpoint_A:g} A within {timeout_s:g} s"
            )
        return st


def _same_frequency(a_Hz: float, b_Hz: float) -> bool:
    return abs(a_Hz - b_Hz) <= FREQUENCY_TOLERANCE * max(a_Hz, b_Hz)


def _parse_float(text: str, frame: bytes, driver: AmbrellEasyHeat) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InstrumentError(f"{driver._where(frame)}: cannot parse number {text!r}")
    return value


def _check_range(what: str, value: float, low: float, high: float) -> None:
    try:
        ok = math.isfinite(float(value)) and low <= float(value) <= high
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InstrumentError(f"EASYHEAT: {what} {value!r} outside [{low:g}, {high:g}]")
