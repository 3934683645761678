"""Ambrell EASYHEAT induction heating system: RS-485 ASCII protocol driver.

Frames follow the EASYHEAT manual's "Command set" table: ``address,command,argument``
terminated by CR, commas mandatory, no spaces, not case-sensitive; ``address`` is
1-32 (default 1) and 0 broadcasts to every unit on the bus (``0,hoff``).  Documented
commands used here: ``amps,<A>`` (current setpoint, only while control is from
RS-485), ``%amps,<pct>``, ``hoff``, ``almin,<W>``, ``almax,<W>``, ``aldelay,<s>``,
``alon``/``aloff`` (power-window alarm), ``maxamps`` and ``?`` (command list).  The
status line is ``address,heating,setpoint,amps,watts,frequency_kHz,timer,counter``,
e.g. ``1,0,1200.0,10,3,140,1826,214``.

Everything the manual does not state is an inference kept in the "Protocol details
not in the manual" block below, so it can be corrected against hardware in one place:

- replies end in CR LF (public client code waits for ``\\r\\n``) and start with the
  replying unit's address;
- set commands are acknowledged with ``<addr>,OK``; refusals are ``<addr>,ERR,<code>``
  (codes in ``ERROR_CODES``); a broadcast (address 0) is never answered, so
  ``heat_off(broadcast=True)`` cannot confirm: read ``status()`` to check;
- ``hon`` switches heat on; ``remote``/``local`` take/return control (RS-485 versus the
  front panel): ``amps``, ``%amps``, ``hon`` and ``tank`` need remote control, ``hoff``
  is always accepted;
- ``stat`` returns the status line; ``faults`` returns ``<addr>,<bitmask>`` of latched
  interlock faults (``AMFFault``); ``reset`` clears latched faults whose cause is gone;
- ``tanks`` lists the resonant frequencies the capacitor bank offers (kHz) and
  ``tank,<kHz>`` selects one (refused while heating); ``timer`` is the heat-on time of
  the present or last heat cycle (s) and ``counter`` the number of heat cycles.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from labctl.core.clock import Clock, WallClock
from labctl.core.errors import ConfigError, InstrumentError, InterlockError, LabctlError
from labctl.core.transport import Transport
from labctl.devices.amf import AMFFault, AMFStatus
from labctl.devices.drivers._resilience import with_retries

__all__ = ["AmbrellEasyHeat", "AMFStatus", "AMFFault", "ERROR_CODES"]

# --- Protocol details not in the manual (inferred; correct against hardware) -----------
TERMINATOR = b"\r"  #: ends every frame sent to the generator (manual)
REPLY_TERMINATOR = b"\r\n"  #: ends every reply line (inferred)
BROADCAST_ADDRESS = 0  #: manual: address 0 reaches all units, which do not reply
ACK = "OK"  #: acknowledgement of a set command: ``<addr>,OK`` (inferred)
ERR = "ERR"  #: refusal: ``<addr>,ERR,<code>`` (inferred)
CMD_STATUS = "stat"  #: status line query (name used by public client code)
CMD_FAULTS = "faults"  #: latched fault bitmask query (inferred)
CMD_RESET = "reset"  #: clear latched faults (inferred)
CMD_HEAT_ON = "hon"  #: heat on (inferred; ``hoff`` is in the manual)
CMD_REMOTE = "remote"  #: take control from RS-485 (inferred)
CMD_LOCAL = "local"  #: return control to the front panel (inferred)
CMD_TANK = "tank"  #: select resonant frequency, kHz (inferred)
CMD_TANKS = "tanks"  #: list resonant frequencies, kHz (inferred)
ERROR_CODES = {
    1: "unknown command",
    2: "missing or malformed argument",
    3: "argument out of range",
    4: "control is not from RS-485 (send 'remote' first)",
    5: "refused while heating",
    6: "interlock fault latched (coolant flow / over-temperature / power alarm)",
}
ERR_INTERLOCK = 6
RETRY_CODES = frozenset({1, 2})  #: refusals a query is retried after (frame garbled in transit)


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
        how many times a query or ``hoff`` is repeated after a timeout, an unparsable
        reply or ``ERR,1``/``ERR,2`` (a frame garbled on the line); ``hon`` and
        setpoints are never repeated.
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

    def _fields(self, line: str, frame: bytes) -> list[str]:
        """Split a reply line, check its address, raise on ``ERR,<code>``."""
        fields = line.split(",")
        if fields[0].strip() != str(self.unit_address) or len(fields) < 2:
            raise InstrumentError(f"{self._where(frame)}: unexpected reply {line!r}")
        if fields[1].upper() == ERR:
            code = int(fields[2]) if len(fields) > 2 and fields[2].isdigit() else -1
            meaning = ERROR_CODES.get(code, "unknown error code")
            cls = InterlockError if code == ERR_INTERLOCK else InstrumentError
            exc = cls(f"{self._where(frame)} refused: {line!r} ({meaning})")
            exc.code = code
            raise exc
        return fields[1:]

    def exchange(self, command: str, argument: str | None = None) -> list[str]:
        """Send one frame and return the reply's fields after the address."""
        frame = self._frame(command, argument)
        with self.transport.lock:
            self._last_status = None  # any exchange may change or follow a change
            self.transport.discard_input()
            self.transport.write(frame)
            return self._fields(self._read_line(frame), frame)

    def command(self, command: str, argument: str | None = None) -> None:
        """Send a set command and check its ``OK`` acknowledgement."""
        fields = self.exchange(command, argument)
        if [f.upper() for f in fields] != [ACK]:
            frame = self._frame(command, argument)
            raise InstrumentError(f"{self._where(frame)}: expected OK, got {fields!r}")

    def _retrying(self, once):
        """Run an idempotent exchange (query or ``hoff``) with the retry policy."""

        def retried(exc: Exception) -> None:
            self.retried += 1

        return with_retries(
            once,
            retries=self.retries,
            transport=self.transport,
            codes=RETRY_CODES,
            on_retry=retried,
        )

    def _query_number(self, command: str) -> float:
        def once():
            fields = self.exchange(command)
            frame = self._frame(command)
            if len(fields) != 1:
                raise InstrumentError(f"{self._where(frame)}: expected one value, got {fields!r}")
            return _parse_float(fields[0], frame, self)

        return self._retrying(once)

    # -- control location -------------------------------------------------------------
    def take_control(self) -> None:
        """Make RS-485 the control location (needed by amps, %amps, hon, tank)."""
        self.command(CMD_REMOTE)

    def release_control(self) -> None:
        """Return control to the front panel."""
        self.command(CMD_LOCAL)

    # -- setpoints --------------------------------------------------------------------
    def set_current(self, current_A: float) -> None:
        """``amps,<A>``: tank current setpoint, A (0 to ``max_current()``, 0.01 A)."""
        _check_range("current (A)", current_A, 0.0, math.inf)
        self.command("amps", _num(current_A, 2))

    def set_current_percent(self, percent: float) -> None:
        """``%amps,<pct>``: setpoint as a percentage of the maximum current (0-100)."""
        _check_range("current percentage", percent, 0.0, 100.0)
        self.command("%amps", _num(percent, 0))

    def max_current(self) -> float:
        """``maxamps``: the largest current setpoint the unit accepts, A."""
        return self._query_number("maxamps")

    def set_frequency(self, frequency_Hz: float) -> None:
        """``tank,<kHz>``: select one of the resonant frequencies (refused while heating)."""
        _check_range("frequency (Hz)", frequency_Hz, 1.0, math.inf)
        self.command(CMD_TANK, _num(frequency_Hz / 1e3, 1))

    def frequencies(self) -> tuple[float, ...]:
        """``tanks``: the resonant frequencies the capacitor bank offers, Hz."""
        frame = self._frame(CMD_TANKS)
        return self._retrying(
            lambda: tuple(_parse_float(f, frame, self) * 1e3 for f in self.exchange(CMD_TANKS))
        )

    # -- heat -------------------------------------------------------------------------
    def heat_on(self) -> None:
        """``hon``; refused with ``InterlockError`` (nothing sent) if a fault is latched."""
        with self.transport.lock:
            faults = self.faults()
            if faults:
                raise InterlockError(
                    f"EASYHEAT unit {self.unit_address} at {self.transport.address}: heat on "
                    f"refused, faults latched: {', '.join(faults.names)}; fix the cause, "
                    "then clear_faults()"
                )
            self.command(CMD_HEAT_ON)

    def heat_off(self, broadcast: bool = False) -> None:
        """``hoff``.  ``broadcast=True`` sends ``0,hoff`` to every unit on the bus: it is
        not answered, so confirm with ``status()``."""
        if not broadcast:
            self._retrying(lambda: self.command("hoff"))
            return
        with self.transport.lock:
            self.transport.discard_input()
            self.transport.write(self._frame("hoff", address=BROADCAST_ADDRESS))

    def emergency_off(self) -> None:
        """Heat off by every means (for a safety monitor): ``hoff`` (retried), else the
        broadcast ``0,hoff``; then confirm with ``stat``.

        Raises ``InstrumentError`` (listing what failed) if heat is not confirmed off.
        """
        problems = []
        try:
            self.heat_off()
        except LabctlError as exc:
            problems.append(str(exc))
            try:
                self.heat_off(broadcast=True)
            except LabctlError as exc2:
                problems.append(f"broadcast: {exc2}")
        try:
            if not self.read_status_line().heating:
                return
            problems.append("the status line still reads heating")
        except LabctlError as exc:
            problems.append(f"cannot confirm: {exc}")
        raise InstrumentError(
            f"EASYHEAT unit {self.unit_address} at {self.transport.address}: heat not "
            "confirmed off: " + "; ".join(problems)
        )

    # -- power-window alarm -----------------------------------------------------------
    def set_alarm_min(self, power_W: float) -> None:
        """``almin,<W>``: lower bound of the power window, W (integer)."""
        _check_range("alarm minimum (W)", power_W, 0.0, math.inf)
        self.command("almin", _num(power_W, 0))

    def set_alarm_max(self, power_W: float) -> None:
        """``almax,<W>``: upper bound of the power window, W (integer)."""
        _check_range("alarm maximum (W)", power_W, 0.0, math.inf)
        self.command("almax", _num(power_W, 0))

    def set_alarm_delay(self, delay_s: float) -> None:
        """``aldelay,<s>``: how long power may be outside the window, s (0.01 s)."""
        _check_range("alarm delay (s)", delay_s, 0.0, math.inf)
        self.command("aldelay", _num(delay_s, 2))

    def set_alarm_enabled(self, enabled: bool) -> None:
        """``alon`` / ``aloff``."""
        self.command("alon" if enabled else "aloff")

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
        """``stat`` alone (faults left at ``NONE``)."""
        return self._retrying(self._status_line_once)

    def _status_line_once(self) -> AMFStatus:
        frame = self._frame(CMD_STATUS)
        fields = self.exchange(CMD_STATUS)
        if len(fields) != 7 or fields[0] not in ("0", "1"):
            raise InstrumentError(f"{self._where(frame)}: malformed status line {fields!r}")
        v = [_parse_float(f, frame, self) for f in fields[1:]]
        return AMFStatus(
            heating=fields[0] == "1",
            setpoint_A=v[0],
            current_A=v[1],
            power_W=v[2],
            frequency_Hz=v[3] * 1e3,
            timer_s=v[4],
            counter=int(v[5]),
        )

    def faults(self) -> AMFFault:
        """``faults``: the latched interlock faults."""

        def once():
            frame = self._frame(CMD_FAULTS)
            fields = self.exchange(CMD_FAULTS)
            if len(fields) != 1 or not fields[0].isdigit():
                raise InstrumentError(f"{self._where(frame)}: malformed fault reply {fields!r}")
            return AMFFault(int(fields[0]) & 0xFF)

        return self._retrying(once)

    def status(self) -> AMFStatus:
        """Status line and latched faults, read back to back.

        Callers at the same clock instant with no exchange in between (the safety
        monitor, then a plan, on a lockstep clock) share one reading: no time passed.
        """
        with self.transport.lock:
            now = self.clock.now()
            last = self._last_status
            if last is not None and last[0] == now:
                return last[1]
            st = self.read_status_line()
            faults = self.faults()
            status = AMFStatus(
                st.heating,
                st.setpoint_A,
                st.current_A,
                st.power_W,
                st.frequency_Hz,
                st.timer_s,
                st.counter,
                faults,
            )
            self._last_status = (now, status)
        return status

    def clear_faults(self) -> AMFFault:
        """``reset``; returns the faults still latched (their cause is still present)."""
        with self.transport.lock:
            self.command(CMD_RESET)
            return self.faults()

    def help(self) -> list[str]:
        """``?``: the unit's command list, one entry per line."""
        frame = self._frame("?")
        lines: list[str] = []
        with self.transport.lock:
            self.transport.discard_input()
            self.transport.write(frame)
            while True:
                line = self._read_line(frame)
                if line.upper() == f"{self.unit_address},{ACK}":
                    return lines
                if line.upper().startswith(f"{self.unit_address},{ERR},"):
                    self._fields(line, frame)
                lines.append(line)
                if len(lines) > 200:
                    raise InstrumentError(f"{self._where(frame)}: command list never ended")

    def wait_for_current(
        self, tolerance_A: float = 5.0, timeout_s: float = 30.0, poll_s: float = 0.1
    ) -> AMFStatus:
        """Wait (clock time) until the current is within ``tolerance_A`` of the setpoint.

        Polls the status line (``stat``) alone; the latched faults are read only if heat
        went off meanwhile, to say why: that raises ``InterlockError``.  Raises
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
