"""Neoptix ReFlex / Omega FOB10x fiber-optic (GaAs) thermometer: RS-232 ASCII driver.

Sources: the Omega FOB100 manual, sections 5.2-5.4, and the Omega HHTFO user's guide,
sections 6.2-6.3 (OEM Neoptix units, the ReFlex command set); drmittelstein's
thermal_control (MATLAB against a real ReFlex) reads the first line of ``t`` and finds
the unit by ``ReFlex`` in the first line of ``i``.  Every command
ends with CR; characters are not echoed; a successful command ends with the prompt
``*``, a failed one with ``Errx`` instead, and the host must send nothing before either
arrives.  On a 1-channel model the channel index is omitted.  A single argument follows
the command letter (``t4``, ``ta+``, ``uc``); a second one is separated by a blank, as
the manual's text and example show (``f2 27.0``; its table prints ``f[i;j]``).
Reply framing for each command used here (``<CR>`` = ``\\r``; nothing follows the
prompt)::

    t        +24.3<CR>+24.5<CR>---.-<CR>+24.4<CR>*   one line per channel (manual)
    t2       +24.5<CR>*                             (1-channel model: t)
    ta+/ta-  *      then, while on: C:2;T: +24.5<CR> (any time, between replies too)
    e1 2 -3 4  *    enable 1, 2, 4; disable 3       (not on 1-channel models)
    q+/q-    *      fast / slow (slow = mean of the last 4 readings)
    uc/uf    *      units of every temperature sent or received
    b        b:32.2<CR>*                            enclosure temperature
    i        Model: FOB100<CR>...<CR>*              identity, status, channel table
    y        CH1: power:2.61, lamp attenuation: 250, CCD time: 50ms (fixed)<CR>...*
    f2 27.0  *      force channel 2 to read 27.0 (1-channel: f 27.0); f2 alone resets
    h        help lines, *;  l+/l-, p+/p-, o<i>, s<i> <j>, z<i> <j>: *

``---.-`` is a channel without a valid reading (not enabled, no probe, broken fiber,
out of range).  A probe power of 0.3-1.1 means no probe is detected on that channel.
``Err1`` is also the answer during the warm-up after power-on: queries are retried.

The driver always works in degrees Celsius: :meth:`NeoptixReflex.initialize` sends
``uc``; if someone selects Fahrenheit (for the front display) with :meth:`set_units`,
readings are converted back to C and force values sent in F.

Protocol details the manual leaves open are decided in the block below, so they can be
corrected against hardware in one place.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Iterable
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

from labctl.core.clock import Clock, WallClock
from labctl.core.errors import ConfigError, InstrumentError, LimitError, TransportError
from labctl.core.transport import Transport
from labctl.devices.drivers._resilience import with_retries

__all__ = [
    "NeoptixReflex",
    "ReflexError",
    "StreamReading",
    "ChannelInfo",
    "ERROR_CODES",
    "MAX_OFFSET_C",
]

# --- Protocol details not in the manual (decided here; correct against hardware) -------
TERMINATOR = b"\r"  #: ends every command and every reply line (manual)
PROMPT = b"*"  #: success prompt, not followed by CR (manual example)
ERROR_RE = re.compile(rb"Err(\d)")  #: failure prompt ``Err<x>``, one digit, no CR (decided)
INVALID = "---.-"  #: channel without a valid reading (manual)
VALUE_RE = re.compile(r"[+-]?\d{1,4}\.\d")  #: ``+24.3``, ``-5.0``, ``+102.4``
STREAM_RE = re.compile(r"C:(\d);T: ?([+-]?\d{1,4}\.\d|---\.-)")  #: ``C:2;T: +24.5``
ENCLOSURE_RE = re.compile(r"b:\s*([+-]?\d{1,4}\.\d)")  #: ``b:32.2``
POWER_RE = re.compile(r"CH(\d): power:\s*(\d+(?:\.\d+)?)")  #: ``CH1: power:2.61, ...``
#: ``i`` reply (manual): ``Key: value`` lines, then the table header ``Channel Zero Span
#: Enabled Temperature offset`` and one row per channel, ``1 -100.0 350.0 Yes +0000.0``
#: (offset in the current units); the column separator is not printed: any blanks.
TABLE_HEADER = "Channel"
CHANNEL_ROW_RE = re.compile(
    r"\s*(\d)\s+([+-]?\d+\.\d)\s+([+-]?\d+\.\d)\s+(Yes|No)\s+([+-]?\d+\.\d)\s*"
)
SCAN_RATE_KEY = "Scanning rate"  #: ``Scanning rate: Fast`` / ``Slow`` in the ``i`` reply
NO_PROBE_POWER = (0.3, 1.1)  #: probe power range meaning "no probe detected" (manual)
MAX_OFFSET_C = 5.0  #: largest calibration offset the ``f`` command accepts, C
ERROR_CODES = {
    1: "unknown command, or warming up after power-on (manual)",  # also a garbled command
    2: "invalid argument (channel index, number or range)",
    3: "command not available on this model",
    5: "no valid reading to force",
}
RETRY_CODES = frozenset({1})  #: refusals a query is retried after (warm-up, garbled)
# ----------------------------------------------------------------------------------------


class ReflexError(InstrumentError):
    """The thermometer answered ``Err<code>`` to ``command``."""

    def __init__(self, message: str, *, code: int, command: str) -> None:
        super().__init__(message)
        self.code = code
        self.command = command


class ChannelInfo(NamedTuple):
    """One row of the ``i`` table: analog zero and span, enabled, offset (units of
    the instrument's ``u`` setting)."""

    zero: float
    span: float
    enabled: bool
    offset: float


class StreamReading(NamedTuple):
    """One ``C:<i>;T: <value>`` line of the ``ta+`` stream (value in C, None = invalid);
    ``time`` is the clock time at which the host received it (epoch s)."""

    channel: int
    value_C: float | None
    time: float


def _c_from(value: float, units: str) -> float:
    return (value - 32.0) / 1.8 if units == "f" else value


def _to_units(value_C: float, units: str) -> float:
    return value_C * 1.8 + 32.0 if units == "f" else value_C


class NeoptixReflex:
    """Driver of a 1-, 2- or 4-channel Neoptix ReFlex style thermometer.

    Parameters
    ----------
    transport:
        an open :class:`~labctl.core.transport.Transport` (9600 8N1 by default).
    channels:
        number of channels of the model (1, 2 or 4).
    clock:
        bench clock (times of stream lines); default :class:`~labctl.core.clock.WallClock`.
    retries:
        how many times a query (never a setting) is repeated after a timeout, an
        unparsable reply or ``Err1``, with the line resynchronised in between.

    All temperatures are in degrees Celsius; ``None`` stands for ``---.-``.
    Thread-safe: every exchange holds ``transport.lock``.
    """

    kind = "thermometer"
    wire = "serial"
    emulator = "neoptix_reflex"

    class Options(BaseModel):
        """Bench-file keys of a ReFlex entry: ``model_channels``, the unit's channel count."""

        model_config = ConfigDict(extra="forbid")
        model_channels: Literal[1, 2, 4] = 4

    @classmethod
    def check_entry(cls, entry) -> None:
        """A bench entry's channels must exist on the unit (1..model_channels)."""
        channels = entry.driver_options["model_channels"]
        for ch in entry.channels:
            if not 1 <= ch <= channels:
                raise ConfigError(f"channel index {ch} is not 1-{channels}")

    @classmethod
    def from_bench(cls, transport, *, clock, options: dict) -> NeoptixReflex:
        """The driver for a bench entry."""
        return cls(transport, channels=options["model_channels"], clock=clock)

    stream_buffer_lines = 10_000  #: stream lines kept for :meth:`read_stream`

    def __init__(
        self,
        transport: Transport,
        *,
        channels: int = 4,
        clock: Clock | None = None,
        retries: int = 2,
    ) -> None:
        if channels not in (1, 2, 4):
            raise ValueError(f"channels must be 1, 2 or 4, not {channels!r}")
        self.transport = transport
        self.channels = channels
        self.clock = clock if clock is not None else WallClock()
        self._last_read: tuple[float, dict[int, float | None]] | None = None
        self.retries = int(retries)
        self.retried = 0  #: queries repeated so far (after a timeout or a bad reply)
        self.units = "c"  #: units the instrument is believed to use ("c" or "f")
        self.streaming = False
        self._enabled: tuple[int, ...] = tuple(range(1, channels + 1))  # power-on default
        self._rx = bytearray()
        self._stream: deque[StreamReading] = deque(maxlen=self.stream_buffer_lines)
        self.stream_errors: deque[bytes] = deque(maxlen=100)  #: stream lines that did not parse

    def __repr__(self) -> str:
        return f"<NeoptixReflex {self.channels} ch at {self.transport.address}>"

    # -- commands -------------------------------------------------------------------
    def initialize(self) -> None:
        """Bring the instrument to a known state: stream off (``ta-``), Celsius (``uc``)."""
        self.stop_stream()
        self.set_units("c")

    def read_all(self) -> list[float | None]:
        """``t``: one reading per channel, in channel order (C; None = ``---.-``, which
        includes every channel that is not enabled)."""

        def once():
            lines = self._exchange("t", nlines=self.channels)
            return [self._temperature(line, "t", lines) for line in lines]

        return self._query(once)

    def read_temperatures(self) -> dict[int, float | None]:
        """``t`` mapped to channel numbers: ``{channel: C or None}`` for the channels the
        driver knows to be enabled (``set_enabled_channels``, ``enabled_channels``).

        Callers at the same clock instant (the safety monitor and a plan, on a lockstep
        clock) share one query: no time passed, so the instrument has nothing new.
        """
        now = self.clock.now()
        last = self._last_read
        if last is not None and last[0] == now:
            return dict(last[1])
        self._last_read = None
        values = self.read_all()
        result = {ch: values[ch - 1] for ch in self._enabled}
        self._last_read = (now, result)
        return dict(result)

    def read_channel(self, channel: int) -> float | None:
        """``t<i>`` (``t`` on a 1-channel model): one channel's reading, C or None
        (``---.-``: not enabled, or no valid reading)."""
        cmd = "t" + self._index(channel)

        def once():
            lines = self._exchange(cmd, nlines=1)
            return self._temperature(lines[0], cmd, lines)

        return self._query(once)

    def start_stream(self) -> None:
        """``ta+``: the instrument sends every new reading as ``C:<i>;T: <value>``."""
        self._exchange("ta+", nlines=0)
        self.streaming = True

    def stop_stream(self) -> None:
        """``ta-``: stop streaming (lines already sent are kept for :meth:`read_stream`)."""
        self._exchange("ta-", nlines=0)
        self.streaming = False

    def read_stream(self) -> list[StreamReading]:
        """Stream lines that have arrived since the last call, parsed (does not block).

        Lines that do not parse (a partial line after a buffer overflow) are skipped and
        kept in ``stream_errors``.
        """
        with self.transport.lock:
            while data := self.transport.read_available():  # some links hand out 1 byte a call
                self._rx += data
            self._scan([], stale=True)
            out = list(self._stream)
            self._stream.clear()
            return out

    def set_enabled_channels(self, channels: Iterable[int]) -> None:
        """``e1 2 -3 4``: scan only ``channels`` (1-channel model: only channel 1, no command)."""
        wanted = sorted({self._check_channel(c) for c in channels})
        if not wanted:
            raise ValueError("at least one channel must stay enabled")
        if self.channels == 1:
            return
        args = " ".join(str(c) if c in wanted else f"-{c}" for c in range(1, self.channels + 1))
        self._exchange("e" + args, nlines=0)
        self._enabled = tuple(wanted)

    def enabled_channels(self) -> tuple[int, ...]:
        """Channels the instrument scans, from the ``i`` reply (also resynchronises ``t``)."""
        self._enabled = tuple(ch for ch, row in self.channel_table().items() if row.enabled)
        return self._enabled

    def set_fast(self, fast: bool) -> None:
        """``q+`` (fast) or ``q-`` (slow: mean of the last 4 readings)."""
        self._exchange("q+" if fast else "q-", nlines=0)

    def set_acquisition_mode(self, mode: str) -> None:
        """``"fast"`` or ``"slow"`` (see :meth:`set_fast`)."""
        if mode not in ("fast", "slow"):
            raise ValueError(f"acquisition mode must be 'fast' or 'slow', not {mode!r}")
        self.set_fast(mode == "fast")

    def acquisition_mode(self) -> str:
        """``"fast"`` or ``"slow"``, from the ``i`` reply's ``Scanning rate``."""
        info = self.identity()
        rate = info.get(SCAN_RATE_KEY, "").strip().lower()
        if rate not in ("fast", "slow"):
            raise InstrumentError(
                f"{self.transport.address}: 'i' reply has no valid {SCAN_RATE_KEY!r} line: {info!r}"
            )
        return rate

    def set_units(self, units: str) -> None:
        """``uc`` or ``uf``; readings returned by this driver stay in Celsius."""
        units = units.strip().lower()
        if units not in ("c", "f"):
            raise ValueError(f"units must be 'c' or 'f', not {units!r}")
        self._exchange(f"u{units}", nlines=0)
        self.units = units

    def enclosure_temperature(self) -> float:
        """``b``: temperature inside the instrument's enclosure, C."""

        def once():
            lines = self._exchange("b", nlines=1)
            m = ENCLOSURE_RE.fullmatch(lines[0].decode("ascii", "replace").strip())
            if m is None:
                raise self._unparsable("b", lines)
            return _c_from(float(m.group(1)), self.units)

        return self._query(once)

    def identity(self) -> dict[str, str]:
        """``i``: the identity and status lines as ``{key: value}`` (Model, Serial,
        Scanning rate, ...); the channel table is :meth:`channel_table`."""
        return self._query(lambda: self._info()[0])

    def channel_table(self) -> dict[int, ChannelInfo]:
        """``i``: the channel table, ``{channel: ChannelInfo}``."""
        return self._query(lambda: self._info()[1])

    def _info(self) -> tuple[dict[str, str], dict[int, ChannelInfo]]:
        lines = self._exchange("i")
        info: dict[str, str] = {}
        table: dict[int, ChannelInfo] = {}
        rows = None
        for raw in lines:
            text = raw.decode("ascii", "replace")
            if rows is None and text.strip().startswith(TABLE_HEADER):
                rows = table
                continue
            if rows is None:
                key, sep, value = text.partition(":")
                if not sep:
                    raise self._unparsable("i", lines)
                info[key.strip()] = value.strip()
                continue
            m = CHANNEL_ROW_RE.fullmatch(text)
            if m is None:
                raise self._unparsable("i", lines)
            zero, span, offset = (float(m.group(k)) for k in (2, 3, 5))
            table[int(m.group(1))] = ChannelInfo(zero, span, m.group(4) == "Yes", offset)
        if sorted(table) != list(range(1, self.channels + 1)):
            raise InstrumentError(
                f"{self.transport.address}: the 'i' reply does not list "
                f"channels 1..{self.channels}: {b''.join(line + TERMINATOR for line in lines)!r}"
            )
        return info, table

    def offsets_C(self) -> dict[int, float]:
        """Calibration offset applied to each channel by ``f`` (C), from ``i``."""
        scale = 1.8 if self.units == "f" else 1.0
        return {ch: row.offset / scale for ch, row in self.channel_table().items()}

    def help_lines(self) -> list[str]:
        """``h``: the help screen, one command per line."""
        return self._query(lambda: [raw.decode("ascii", "replace") for raw in self._exchange("h")])

    def lock_keypad(self, locked: bool) -> None:
        """``l+`` (lock the front keypad) or ``l-`` (unlock)."""
        self._exchange("l+" if locked else "l-", nlines=0)

    def set_sleep(self, asleep: bool) -> None:
        """``p+``: sleep, a scan only on ``t``/``t<i>``; ``p-``: continuous scanning."""
        self._exchange("p+" if asleep else "p-", nlines=0)

    def set_analog_on_error(self, mode: int) -> None:
        """``o<i>``: analog output on a probe problem, 0 toggle, 1 max, 2 min."""
        if mode not in (0, 1, 2):
            raise ValueError(f"analog-on-error mode must be 0, 1 or 2, not {mode!r}")
        self._exchange(f"o{mode}", nlines=0)

    def set_analog_span(self, channel: int, span: float) -> None:
        """``s[i j]``: analog output span of ``channel``, 1.0-1000.0 (instrument units)."""
        self._analog("s", channel, span, 1.0, 1000.0)

    def set_analog_zero(self, channel: int, zero: float) -> None:
        """``z[i j]``: temperature of the analog zero, -100.0-1000.0 (instrument units)."""
        self._analog("z", channel, zero, -100.0, 1000.0)

    def _analog(self, letter: str, channel: int, value: float, low: float, high: float) -> None:
        if not (isinstance(value, int | float) and low <= value <= high):
            raise ValueError(f"{letter}{channel}: {value!r} outside [{low:g}, {high:g}]")
        self._exchange(f"{letter}{self._index(channel)} {value:.1f}", nlines=0)

    def probe_power(self) -> dict[int, float]:
        """``y``: optical power returned by each channel's probe (arbitrary units)."""

        def once():
            lines = self._exchange("y", nlines=self.channels)
            power: dict[int, float] = {}
            for raw in lines:
                m = POWER_RE.match(raw.decode("ascii", "replace"))
                if m is None:
                    raise self._unparsable("y", lines)
                power[int(m.group(1))] = float(m.group(2))
            if sorted(power) != list(range(1, self.channels + 1)):
                raise self._unparsable("y", lines)
            return power

        return self._query(once)

    def probe_status(self) -> dict[int, str]:
        """Per channel ``"ok"``, ``"no probe"`` (power 0.3-1.1) or ``"fault"`` (< 0.3)."""
        low, high = NO_PROBE_POWER
        return {
            ch: "ok" if p > high else ("no probe" if p >= low else "fault")
            for ch, p in self.probe_power().items()
        }

    def probes_detected(self) -> dict[int, bool]:
        """Whether each channel sees a probe (``y`` power above 1.1)."""
        return {ch: status == "ok" for ch, status in self.probe_status().items()}

    def force_reading(self, channel: int, reference_C: float) -> None:
        """``f<i> <T>``: make ``channel`` read ``reference_C`` from now on (calibration).

        Reads the channel first (``t<i>``) and refuses, without sending ``f``, when the
        reading is invalid (``InstrumentError``) or the correction would exceed
        +/-5 C (``LimitError``).
        """
        current = self.read_channel(channel)
        where = f"{self.transport.address} channel {channel}"
        if current is None:
            raise InstrumentError(f"{where}: no valid reading to force; nothing was sent")
        if not abs(reference_C - current) <= MAX_OFFSET_C:
            raise LimitError(
                f"{where}: forcing {reference_C:g} C while it reads {current:g} C is an offset "
                f"of {reference_C - current:+.1f} C, beyond +/-{MAX_OFFSET_C:g} C; nothing was sent"
            )
        value = _to_units(reference_C, self.units)
        self._exchange(f"f{self._index(channel)} {value:.1f}", nlines=0)

    def reset_calibration(self, channel: int) -> None:
        """``f<i>``: back to the factory calibration (offset 0) on ``channel``."""
        self._exchange("f" + self._index(channel), nlines=0)

    # -- protocol machinery -----------------------------------------------------------
    def _query(self, once):
        """Run one query (exchange and parsing) with the retry policy."""

        def retried(exc: Exception) -> None:
            self.retried += 1
            with self.transport.lock:
                self._rx.clear()

        return with_retries(
            once,
            retries=self.retries,
            transport=self.transport,
            codes=RETRY_CODES,
            on_retry=retried,
        )

    def _check_channel(self, channel: int) -> int:
        if isinstance(channel, bool) or not isinstance(channel, int):
            raise ValueError(f"channel must be an integer 1..{self.channels}, not {channel!r}")
        if not 1 <= channel <= self.channels:
            raise ValueError(f"channel must be 1..{self.channels}, not {channel!r}")
        return channel

    def _index(self, channel: int) -> str:
        self._check_channel(channel)
        return "" if self.channels == 1 else str(channel)

    def _temperature(self, raw: bytes, command: str, lines: list[bytes]) -> float | None:
        text = raw.decode("ascii", "replace").strip()
        if text == INVALID:
            return None
        if VALUE_RE.fullmatch(text) is None:
            raise self._unparsable(command, lines)
        return _c_from(float(text), self.units)

    def _unparsable(self, command: str, lines: list[bytes]) -> InstrumentError:
        reply = b"".join(line + TERMINATOR for line in lines) + PROMPT
        return InstrumentError(
            f"{self.transport.address}: cannot parse the reply to {command!r}: {reply!r}"
        )

    def _exchange(self, command: str, nlines: int | None = None) -> list[bytes]:
        """Send ``command`` + CR and return the reply lines before the prompt.

        Stream lines (``C:...``) met on the way go to the stream buffer.  ``nlines``
        (if given) is the number of lines the reply must have.
        """
        transport = self.transport
        with transport.lock:
            self._last_read = None  # any command may change what ``t`` reports
            self._rx += transport.read_available()
            self._scan([], stale=True)
            transport.write(command.encode("ascii") + TERMINATOR)
            lines: list[bytes] = []
            deadline = time.monotonic() + transport.timeout
            while True:
                code = self._scan(lines)
                if code is not None:
                    break
                remaining = deadline - time.monotonic()
                data = transport.read_some(min(max(remaining, 0.0), 0.05))
                if data:
                    self._rx += data
                elif remaining <= 0 or not transport.waits_for_bytes:
                    got = b"".join(line + TERMINATOR for line in lines) + bytes(self._rx)
                    self._rx.clear()
                    raise TransportError(
                        f"no prompt after {command!r} from {transport.address} within "
                        f"{transport.timeout:g} s (received {got!r})"
                    )
        if code:
            raise ReflexError(
                f"{transport.address}: {command!r} refused with Err{code} "
                f"({ERROR_CODES.get(code, 'unknown error')})",
                code=code,
                command=command,
            )
        if nlines is not None and len(lines) != nlines:
            raise self._unparsable(command, lines)
        return lines

    def _scan(self, lines: list[bytes], stale: bool = False) -> int | None:
        """Consume complete items from the receive buffer.

        Reply lines go to ``lines``, stream lines to the stream buffer.  Returns 0 at
        the prompt, the error number at ``Err<x>``, None when more bytes are needed.
        With ``stale`` (no command pending), prompts and lines that are not stream
        lines are dropped, and so is a trailing partial line unless it may be the start
        of a stream line.
        """
        rx = self._rx
        pos = 0
        result = None
        n = len(rx)
        while pos < n:
            if rx[pos] == 0x2A:  # "*"
                pos += 1
                result = 0
                if not stale:
                    break
                continue
            if rx.startswith(b"Err", pos):
                m = ERROR_RE.match(rx, pos)
                if m is None and n - pos < 4:
                    break  # "Err" without its digit yet
                if m is not None:
                    pos = m.end()
                    result = int(m.group(1))
                    if not stale:
                        break
                    continue
            end = rx.find(TERMINATOR, pos)
            if end < 0:
                break
            line = bytes(rx[pos:end])
            pos = end + 1
            if line.startswith(b"C:"):
                self._stream_line(line)
            elif line and not stale:
                lines.append(line)
        if stale and pos < n and rx[pos] != 0x43:  # not "C"
            pos = n  # stale partial reply: drop it
        del rx[:pos]
        return None if stale else result

    def _stream_line(self, line: bytes) -> None:
        m = STREAM_RE.fullmatch(line.decode("ascii", "replace").strip())
        ch = int(m.group(1)) if m is not None else 0
        if m is None or not 1 <= ch <= self.channels:
            self.stream_errors.append(line)
            return
        text = m.group(2)
        value = None if text == INVALID else _c_from(float(text), self.units)
        self._stream.append(StreamReading(ch, value, self.clock.now()))
