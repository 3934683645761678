"""Thorlabs ITC4000-series laser diode + TEC controller (ITC4001/4002QCL/4005): SCPI driver.

IEEE 488.2 / SCPI over USBTMC (VISA ``USB0::0x1313::0x804A::<serial>::INSTR``) or any
transport ending lines in ``\\n``.  Headers are sent in the short form; the numeric
suffix selects the output: ``OUTP1``/``SOUR1`` the laser diode (LD), ``OUTP2``/``SOUR2``
the TEC.  After every write the driver reads ``SYST:ERR?`` until ``+0,"No error"``;
any error becomes an :class:`~labctl.core.errors.InstrumentError` carrying ``code``,
``message`` and ``command``.

Client practice (Thorlabs programming reference and public client code): check the
keylock and interlock first; switch the TEC on and wait until ``|T - T_set|`` stays
below ``settle_tolerance_C`` for ``settle_time_s``; only then switch the LD on and
verify the state.  Switch-off runs in reverse: LD off, wait for the current to fall
to ~0, then TEC off.  Waits take clock time (``clock.wait_until``), and the transport
lock is held only for one exchange at a time, so another thread (a safety monitor)
can switch the LD off in the middle of a TEC settling wait.

Protocol details not checked against hardware (one place to correct them):

- the reply format of numbers (any decimal/NR3 form is parsed) and that booleans
  read ``0``/``1`` and the mode ``CURR``/``POW``;
- the code of a refused LD-on (any error after ``OUTP:STAT ON`` is reported as an
  :class:`~labctl.core.errors.InterlockError`);
- that ``OUTP:PROT:<INTL|KEYL|OTEM>:TRIP?`` reads 1 while the condition persists and
  stays 1 (latched) after a trip until ``*CLS``; :meth:`ThorlabsITC4000.clear_trips`
  sends ``*CLS``;
- the TEC temperature query ``MEAS:TEMP?`` (``SENS2:TEMP:DATA?`` is equivalent) and the
  monitor photodiode power ``MEAS:POW2?`` in W;
- that a compound query with root-anchored units (``:A?;:B?``) is answered by one
  ``;``-separated line (IEEE 488.2 response message), used by :meth:`read_status`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from labctl.core.clock import Clock, WallClock
from labctl.core.errors import InstrumentError, InterlockError, LabctlError, TransportError
from labctl.core.transport import Transport
from labctl.devices.drivers._resilience import with_retries

__all__ = ["ThorlabsITC4000", "TRIP_NAMES"]

# --- Protocol details (see the module docstring) ---------------------------------------
TERMINATOR = b"\n"
ENCODING = "ascii"
CMD_ERROR = "SYST:ERR?"
MAX_ERRORS_DRAINED = 32  #: stop reading SYST:ERR? after this many (queue size unknown)
TRIP_QUERIES = {
    "interlock": "OUTP:PROT:INTL:TRIP?",
    "keylock": "OUTP:PROT:KEYL:TRIP?",
    "overtemperature": "OUTP:PROT:OTEM:TRIP?",
}
TRIP_NAMES = tuple(TRIP_QUERIES)
#: read_status(): one compound query -> (key, parser name)
STATUS_FIELDS = (
    ("power_W", ":MEAS:POW2?", "float"),
    ("current_setpoint_A", ":SOUR:CURR?", "float"),
    ("current_A", ":MEAS:CURR?", "float"),
    ("tec_temperature_C", ":MEAS:TEMP?", "float"),
    ("emission", ":OUTP:STAT?", "bool"),
    ("interlock", ":" + TRIP_QUERIES["interlock"], "bool"),
    ("keylock", ":" + TRIP_QUERIES["keylock"], "bool"),
    ("overtemperature", ":" + TRIP_QUERIES["overtemperature"], "bool"),
)
_ERROR_REPLY = re.compile(r'\s*([+-]?\d+)\s*,\s*"(.*)"\s*')
_MODES = {"CURR": "CURR", "CURRENT": "CURR", "POW": "POW", "POWER": "POW"}
#: character settings: accepted spellings -> the short form the instrument replies with
_TEC_MODES = {"TEMP": "TEMP", "TEMPERATURE": "TEMP", "CURR": "CURR", "CURRENT": "CURR"}
_SHAPES = {"DC": "DC", "PULS": "PULS", "PULSE": "PULS"}
_HOLDS = {"WIDT": "WIDT", "WIDTH": "WIDT", "DCYC": "DCYC", "DCYCLE": "DCYC"}
_TRIGGERS = {"INT": "INT", "INTERNAL": "INT", "EXT": "EXT", "EXTERNAL": "EXT"}


# --- reply parsers and argument formatters ---------------------------------------------
def _float(reply: str) -> float:
    value = float(reply)
    if not math.isfinite(value):
        raise ValueError(reply)
    return value


def _bool(reply: str) -> bool:
    if reply not in ("0", "1"):
        raise ValueError(reply)
    return reply == "1"


def _mode(reply: str) -> str:
    return _MODES[reply.upper()]


_PARSERS: dict[str, Callable[[str], object]] = {"float": _float, "bool": _bool}


def _keyword(table: dict[str, str], what: str):
    """Parser and formatter of a character setting (``TEMP``, ``PULS``, ...)."""

    def parse(reply: str) -> str:
        return table[reply.upper()]

    def fmt(value) -> str:
        try:
            return table[str(value).upper()]
        except KeyError:
            raise ValueError(f"{what} must be one of {sorted(set(table.values()))}") from None

    return parse, fmt


def _seconds_arg(value: float) -> str:
    if not float(value) >= 0:
        raise ValueError(f"a time must be >= 0 s, not {value!r}")
    return _number_arg(value)


def _number_arg(value: float) -> str:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    return f"{value:.6g}"


def _current_arg(value: float) -> str:
    if not float(value) >= 0:
        raise ValueError(f"LD current must be >= 0 A, not {value!r}")
    return _number_arg(value)


def _register_arg(value: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"a settings register is an integer >= 0, not {value!r}")
    return str(value)


def _onoff_arg(value: bool) -> str:
    return "ON" if value else "OFF"


def _mode_arg(value: str) -> str:
    try:
        return _MODES[str(value).upper()]
    except KeyError:
        raise ValueError(f"mode must be 'CURR' or 'POW', not {value!r}") from None


def _setting(header: str, parse: Callable[[str], object], fmt: Callable[[object], str], doc: str):
    """A getter (``<header>?``) and setter (``<header> <value>``) pair."""

    def getter(self):
        return self._query_value(header + "?", parse)

    def setter(self, value) -> None:
        self._write(f"{header} {fmt(value)}")

    getter.__doc__ = f"{doc} (``{header}?``)."
    setter.__doc__ = f"Set {doc} (``{header} <value>``)."
    return getter, setter


def _measurement(command: str, parse: Callable[[str], object], doc: str):
    def getter(self):
        return self._query_value(command, parse)

    getter.__doc__ = f"{doc} (``{command}``)."
    return getter


class ThorlabsITC4000:
    """Thorlabs ITC4000-series controller on ``transport``.

    Parameters
    ----------
    transport:
        an open :class:`~labctl.core.transport.Transport` (``visa://...``, ``sim://...``).
    clock:
        the bench clock for every wait (default :class:`~labctl.core.clock.WallClock`).
    settle_tolerance_C, settle_time_s, settle_timeout_s:
        TEC settled when ``|T - T_set| < settle_tolerance_C`` (C) for ``settle_time_s``
        (s); give up after ``settle_timeout_s`` (s).
    poll_s:
        polling period while waiting (s of clock time).
    off_current_A, off_timeout_s:
        after LD off, wait up to ``off_timeout_s`` for ``|I| < off_current_A``.
    retries:
        how many times a query or ``OUTP:STAT OFF`` is repeated after a timeout or an
        unparsable reply (the line is resynchronised and the error queue drained in
        between); setpoints and ``OUTP:STAT ON`` are never repeated.
    """

    kind = "laser"
    wire = "scpi"
    emulator = "thorlabs_itc4000"

    terminator = TERMINATOR

    def __init__(
        self,
        transport: Transport,
        *,
        clock: Clock | None = None,
        settle_tolerance_C: float = 0.15,
        settle_time_s: float = 3.0,
        settle_timeout_s: float = 60.0,
        poll_s: float = 0.5,
        off_current_A: float = 0.01,
        off_timeout_s: float = 5.0,
        retries: int = 2,
    ) -> None:
        self.transport = transport
        self.clock = clock if clock is not None else WallClock()
        self.settle_tolerance_C = float(settle_tolerance_C)
        self.settle_time_s = float(settle_time_s)
        self.settle_timeout_s = float(settle_timeout_s)
        self.poll_s = float(poll_s)
        self.off_current_A = float(off_current_A)
        self.off_timeout_s = float(off_timeout_s)
        self._off_requests = 0  #: incremented by laser_off(); cancels a switch-on under way
        self.retries = int(retries)
        self.retried = 0  #: exchanges repeated so far
        self.discarded_errors: list[tuple[int, str]] = []  #: drained while resynchronising

    # -- the manual: one line per command -----------------------------------------------
    #   name                                       header          reply   argument
    get_current_A, set_current_A = _setting(
        "SOUR:CURR", _float, _current_arg, "LD current setpoint, A"
    )
    get_current_limit_A, set_current_limit_A = _setting(
        "SOUR:CURR:LIM", _float, _current_arg, "LD current limit, A"
    )
    get_mode, set_mode = _setting(
        "SOUR:FUNC:MODE", _mode, _mode_arg, "operating mode, 'CURR' (constant current) or 'POW'"
    )
    get_emission, _set_ld_output = _setting("OUTP:STAT", _bool, _onoff_arg, "LD output state")
    get_tec_output, set_tec_output = _setting("OUTP2:STAT", _bool, _onoff_arg, "TEC output state")
    get_tec_setpoint_C, set_tec_setpoint_C = _setting(
        "SOUR2:TEMP", _float, _number_arg, "TEC temperature setpoint, C"
    )
    get_tec_mode, set_tec_mode = _setting(
        "SOUR2:FUNC", *_keyword(_TEC_MODES, "TEC mode"), "TEC mode, 'TEMP' or 'CURR'"
    )
    get_on_delay_s, set_on_delay_s = _setting(
        "OUTP:DEL", _float, _seconds_arg, "delay from LD on to light, s"
    )
    get_shape, set_shape = _setting(
        "SOUR:FUNC:SHAP", *_keyword(_SHAPES, "shape"), "output shape, 'DC' (CW) or 'PULS' (QCW)"
    )
    get_pulse_period_s, set_pulse_period_s = _setting(
        "SOUR:PULS:PER", _float, _seconds_arg, "QCW pulse period, s"
    )
    get_pulse_width_s, set_pulse_width_s = _setting(
        "SOUR:PULS:WIDT", _float, _seconds_arg, "QCW pulse width, s"
    )
    get_pulse_hold, set_pulse_hold = _setting(
        "SOUR:PULS:HOLD", *_keyword(_HOLDS, "hold"), "what a period change keeps, 'WIDT' or 'DCYC'"
    )
    get_trigger_source, set_trigger_source = _setting(
        "TRIG:SOUR", *_keyword(_TRIGGERS, "trigger"), "QCW trigger source, 'INT' or 'EXT'"
    )
    measure_voltage_V = _measurement("MEAS:VOLT?", _float, "LD voltage, V")
    measure_current_A = _measurement("MEAS:CURR?", _float, "LD current, A")
    get_tec_temperature_C = _measurement("MEAS:TEMP?", _float, "TEC temperature, C")
    measure_power_W = _measurement("MEAS:POW2?", _float, "monitor photodiode power, W")
    interlock_tripped = _measurement(TRIP_QUERIES["interlock"], _bool, "interlock open or tripped")
    keylock_tripped = _measurement(TRIP_QUERIES["keylock"], _bool, "keylock off or tripped")
    overtemperature_tripped = _measurement(
        TRIP_QUERIES["overtemperature"], _bool, "controller over-temperature tripped"
    )

    # -- exchanges ------------------------------------------------------------------------
    @property
    def address(self) -> str:
        return self.transport.address

    def _query(self, command: str) -> str:
        data = command.encode(ENCODING) + TERMINATOR
        with self.transport.lock:
            self.transport.discard_input()  # a late reply must not answer this query
            try:
                reply = self.transport.query(data, TERMINATOR)
            except TransportError:
                self.transport.discard_input()
                raise
        return reply.decode(ENCODING, errors="replace").strip()

    def _retrying(self, once):
        """Run an idempotent exchange with the retry policy (see ``retries``)."""

        def retried(exc: Exception) -> None:
            self.retried += 1
            self._resync_errors()

        return with_retries(once, retries=self.retries, transport=self.transport, on_retry=retried)

    def _resync_errors(self) -> None:
        """Drain the error queue (a garbled command leaves -1xx errors that must not be
        blamed on the next write); best effort, errors kept in ``discarded_errors``."""
        try:
            with self.transport.lock:
                self.transport.discard_input()
                self.discarded_errors.extend(self._drain_errors())
        except LabctlError:
            pass

    def _query_value(self, command: str, parse: Callable[[str], object]):
        def once():
            reply = self._query(command)
            try:
                return parse(reply)
            except (ValueError, KeyError):
                raise InstrumentError(
                    f"{self.address}: cannot parse the reply {reply!r} to {command!r}"
                ) from None

        return self._retrying(once)

    def _write(self, command: str) -> None:
        """Send ``command`` and check the error queue (raises ``InstrumentError``)."""
        with self.transport.lock:
            self.transport.write(command.encode(ENCODING) + TERMINATOR)
            errors = self._drain_errors()
        if errors:
            raise self._error(InstrumentError, command, errors)

    def _drain_errors(self) -> list[tuple[int, str]]:
        errors = []
        for _ in range(MAX_ERRORS_DRAINED):
            reply = self._query(CMD_ERROR)
            m = _ERROR_REPLY.fullmatch(reply)
            if m is None:
                raise InstrumentError(
                    f"{self.address}: cannot parse the reply {reply!r} to {CMD_ERROR!r}"
                )
            code = int(m.group(1))
            if code == 0:
                break
            errors.append((code, m.group(2)))
        return errors

    def _error(
        self,
        cls: type[InstrumentError],
        command: str,
        errors: list[tuple[int, str]],
        what: str = "refused",
    ) -> InstrumentError:
        code, message = errors[0]
        text = f'{self.address}: {command!r} {what}: {code:+d},"{message}"'
        if len(errors) > 1:
            text += " (then " + ", ".join(f'{c:+d},"{m}"' for c, m in errors[1:]) + ")"
        err = cls(text)
        err.code, err.message, err.command = code, message, command
        return err

    # -- identity and status ------------------------------------------------------------
    def identify(self) -> dict[str, str]:
        """``*IDN?`` -> ``{"manufacturer", "model", "serial", "firmware"}``."""

        def once():
            reply = self._query("*IDN?")
            fields = [f.strip() for f in reply.split(",")]
            if len(fields) != 4:
                raise InstrumentError(
                    f"{self.address}: cannot parse the reply {reply!r} to '*IDN?'"
                )
            return dict(zip(("manufacturer", "model", "serial", "firmware"), fields, strict=True))

        return self._retrying(once)

    def reset(self) -> None:
        """``*RST``: outputs off, settings to their defaults."""
        self._write("*RST")

    def clear_trips(self) -> None:
        """``*CLS``: clear the error queue and the latched protection trips."""
        self._write("*CLS")

    def trips(self) -> dict[str, bool]:
        """Which protections are tripped: ``{"interlock", "keylock", "overtemperature"}``."""
        return {name: self._query_value(cmd, _bool) for name, cmd in TRIP_QUERIES.items()}

    def read_status(self) -> dict[str, float | bool]:
        """Everything a reading needs in one compound query (see ``STATUS_FIELDS``)."""
        command = ";".join(cmd for _, cmd, _ in STATUS_FIELDS)

        def once():
            reply = self._query(command)
            parts = reply.split(";")
            try:
                if len(parts) != len(STATUS_FIELDS):
                    raise ValueError(reply)
                return {
                    key: _PARSERS[kind](part.strip())
                    for (key, _, kind), part in zip(STATUS_FIELDS, parts, strict=True)
                }
            except ValueError:
                raise InstrumentError(
                    f"{self.address}: cannot parse the reply {reply!r} to {command!r}"
                ) from None

        return self._retrying(once)

    def save_settings(self, register: int) -> None:
        """``*SAV <n>``: store the settings in memory ``register``."""
        self._write(f"*SAV {_register_arg(register)}")

    def recall_settings(self, register: int) -> None:
        """``*RCL <n>``: restore the settings stored in ``register``."""
        self._write(f"*RCL {_register_arg(register)}")

    def configure_qcw(self, period_s: float, width_s: float, trigger: str = "INT") -> None:
        """Pulsed (QCW) output: width, period, trigger source, then ``SOUR:FUNC:SHAP PULS``."""
        if not 0 < float(width_s) <= float(period_s):
            raise ValueError(f"pulse width {width_s!r} s must be in (0, period {period_s!r} s]")
        self.set_pulse_hold("WIDT")
        if float(period_s) >= self.get_pulse_width_s():
            self.set_pulse_period_s(period_s)
            self.set_pulse_width_s(width_s)
        else:
            self.set_pulse_width_s(width_s)
            self.set_pulse_period_s(period_s)
        self.set_trigger_source(trigger)
        self.set_shape("PULS")

    def select_constant_current(self) -> None:
        """Put the controller in constant-current mode (if it is not already)."""
        if self.get_mode() != "CURR":
            self.set_mode("CURR")

    # -- sequences ------------------------------------------------------------------------
    def wait_tec_settled(self, cancelled: Callable[[], bool] = lambda: False) -> None:
        """Wait until ``|T - T_set| < settle_tolerance_C`` has held for ``settle_time_s``.

        Raises ``InterlockError`` after ``settle_timeout_s`` (the TEC stays on); returns
        early as soon as ``cancelled()`` is true.
        """
        target = self.get_tec_setpoint_C()
        since: list[float | None] = [None]
        last: list[float] = [math.nan]

        def settled() -> bool:
            if cancelled():
                return True
            last[0] = self.get_tec_temperature_C()
            now = self.clock.now()
            if abs(last[0] - target) >= self.settle_tolerance_C:
                since[0] = None
                return False
            if since[0] is None:
                since[0] = now
            return now - since[0] >= self.settle_time_s

        if not self.clock.wait_until(settled, self.settle_timeout_s, poll_s=self.poll_s):
            raise InterlockError(
                f"{self.address}: TEC not settled within {self.settle_timeout_s:g} s "
                f"(T = {last[0]:.3f} C, setpoint {target:.3f} C, tolerance "
                f"{self.settle_tolerance_C:g} C held {self.settle_time_s:g} s); "
                "laser not switched on"
            )

    def laser_on(self) -> None:
        """Check keylock/interlock, TEC on and settled, then LD on and verify.

        Raises ``InterlockError`` (nothing energized) if a protection is tripped, the
        TEC does not settle, the controller refuses or does not enable the output, or
        :meth:`laser_off` was called (e.g. by a safety monitor thread) meanwhile.
        """
        generation = self._off_requests

        def cancelled() -> bool:
            return self._off_requests != generation

        tripped = self.trips()
        reasons = {
            "interlock": "the interlock circuit is open or has tripped (close it)",
            "keylock": "the keylock is off or has tripped (turn the key on)",
            "overtemperature": "the controller over-temperature protection has tripped "
            "(let it cool)",
        }
        problems = [reasons[name] for name in TRIP_NAMES if tripped[name]]
        if problems:
            raise InterlockError(
                f"{self.address}: laser emission refused: "
                + "; ".join(problems)
                + "; then call clear_trips() to acknowledge a latched trip. Nothing was "
                "switched on."
            )
        if not self.get_tec_output():
            self.set_tec_output(True)
        self.wait_tec_settled(cancelled)
        with self.transport.lock:  # laser_off() cannot slip between the check and the write
            if cancelled():
                raise InterlockError(
                    f"{self.address}: switch-on cancelled: laser_off() was called during the "
                    "sequence; the LD output was not switched on"
                )
            try:
                self._set_ld_output(True)
            except InstrumentError as exc:
                code = getattr(exc, "code", None)
                if code is None:
                    raise
                raise self._error(InterlockError, "OUTP:STAT ON", [(code, exc.message)]) from exc
        if not self.get_emission():
            raise InterlockError(
                f"{self.address}: LD output did not switch on (OUTP:STAT? reads 0); "
                f"trips: {self.trips()}"
            )

    def laser_off(self) -> None:
        """LD output off, then wait until the LD current is ~0 (``off_current_A``).

        Also cancels a :meth:`laser_on` sequence running in another thread.
        """
        with self.transport.lock:
            self._off_requests += 1
            self._retrying(lambda: self._set_ld_output(False))
        last: list[float] = [math.nan]

        def is_off() -> bool:
            last[0] = self.measure_current_A()
            return abs(last[0]) < self.off_current_A

        if not self.clock.wait_until(is_off, self.off_timeout_s, poll_s=min(self.poll_s, 0.1)):
            raise InstrumentError(
                f"{self.address}: LD current still {last[0]:g} A {self.off_timeout_s:g} s "
                "after OUTP:STAT OFF"
            )

    def emergency_off(self) -> None:
        """LD off by every means, without waiting (for a safety monitor): cancel any
        switch-on under way, ``OUTP:STAT OFF`` (retried; if its error check fails the
        command is sent bare once more), then confirm with ``OUTP:STAT?``.

        Raises ``InstrumentError`` (listing what failed) if emission is not confirmed off.
        """
        problems = []
        with self.transport.lock:
            self._off_requests += 1
            try:
                self._retrying(lambda: self._set_ld_output(False))
            except LabctlError as exc:
                problems.append(str(exc))
                try:
                    self.transport.write(b"OUTP:STAT OFF" + TERMINATOR)
                except LabctlError as exc2:
                    problems.append(f"bare OUTP:STAT OFF: {exc2}")
        try:
            if not self.get_emission():
                return
            problems.append("OUTP:STAT? still reads 1")
        except LabctlError as exc:
            problems.append(f"cannot confirm: {exc}")
        raise InstrumentError(f"{self.address}: emission not confirmed off: " + "; ".join(problems))

    def shutdown(self) -> None:
        """LD off (waiting for the current to fall), then TEC off.

        If the LD cannot be confirmed off, the error propagates and the TEC stays on
        to keep cooling a diode that may still be powered.
        """
        self.laser_off()
        self.set_tec_output(False)

    def __repr__(self) -> str:
        return f"<ThorlabsITC4000 {self.address}>"
