"""Emulator of a Neoptix ReFlex / Omega FOB10x fiber-optic thermometer (RS-232 ASCII).

Speaks the command set of the Omega FOB100 manual (sections 5.2-5.4) and the HHTFO
user's guide (6.2-6.3), OEM Neoptix units: commands end with CR, no echo, success
ends with the prompt ``*``, failure with ``Errx``; reply lines end with CR; ``---.-``
for a channel without a valid reading.  Arguments follow the command letter directly
(``t4``, ``ta+``, ``uc``, ``p+``); a second argument is separated by a blank
(``f2 27.0``, ``s1 300.0``, ``z1 -100.0``; ``e1 2 -3 4``).

- ``t``: one line per channel, ``---.-`` for a channel that is not enabled (manual
  example: four lines then ``*``); ``t<i>``: that channel, ``---.-`` if not enabled;
- ``i``: the manual's layout (Model, Option, NB Channel, Mode, Scanning rate, Serial,
  Internal Software, Last Factory Calibration, Unit, Analog out if error, Keyboard
  Status, then a Channel / Zero / Span / Enabled / Temperature offset table);
- ``h`` help screen, ``l+``/``l-`` keypad lock, ``o<i>`` analog out on error (0 toggle,
  1 max, 2 min), ``p+``/``p-`` sleep (in sleep a scan is made only on ``t``/``t<i>``),
  ``s[i j]`` analog span (1.0-1000.0), ``z[i j]`` analog zero (-100.0-1000.0, default
  -100.0), ``b``, ``e``, ``f``, ``q+``/``q-``, ``ta+``/``ta-``, ``uc``/``uf``, ``y``;
- ``Err1`` answers temperature commands during the warm-up after power-on
  (``warmup_s`` option);
- the first line of ``i`` names the model (``model`` option, ``ReFlex`` by default):
  drmittelstein's thermal_control, written against a real ReFlex, finds the unit by
  looking for ``ReFlex`` in it (the FOB100 manual's example reads ``Model: FOB100``).

Model, not documented: the error numbers other than the warm-up's ``Err1`` (``Err1``
unknown command, ``Err2`` invalid argument, ``Err3`` not on this model, ``Err5`` ``f``
on a channel without a valid reading); the column separator of the ``i`` table (tabs)
and the unit's degree sign (``Unit: C``); the default analog span (350.0); the
warm-up length; commands are case-insensitive.

Acquisition: the optics read one channel at a time with a fixed CCD time of 50 ms, so
a scan of ``n`` enabled channels takes ``n * 50 ms`` in both modes (*rate otherwise
unknown*); a channel's reading is refreshed once per scan (lazily, when asked).  Slow
mode (``q-``) reports the mean of the last 4 readings.  Each reading comes from the
channel's probe (``probe.read(world)``: lag, noise, resolution, broken/stuck faults,
probe offset) plus the offset set with ``f``.  A channel without a probe, or whose
probe is broken, reads ``---.-`` and returns a probe power below 1.1; a reading outside
the measuring range (-80 to 250 C) reads ``---.-`` with the probe power normal.

Streaming (``ta+``): one ``C:<i>;T: <+xxx.x>`` line per 50 ms, cycling through the
enabled channels, produced by :meth:`poll` up to the current clock time.  At most
``stream_buffer_lines`` lines are kept for a host that does not read; older ones are
dropped (counted in ``dropped_lines``) without being measured.
"""

from __future__ import annotations

import math
import re
from collections import deque
from typing import Protocol

from labctl.core.errors import ConfigError
from labctl.simulators.instruments.base import LineEmulator
from labctl.simulators.physics.world import SimWorld

__all__ = ["NeoptixReflexEmulator", "CCD_TIME_S"]

CCD_TIME_S = 0.05  #: acquisition time per channel, s (manual: "CCD time: 50ms (fixed)")
MAX_OFFSET_C = 5.0  #: largest calibration offset ``f`` accepts, C
RANGE_C = (-80.0, 250.0)  #: measuring range of GaAs probes, C; outside it reads ``---.-``
ERR_UNKNOWN, ERR_ARGUMENT, ERR_MODEL, ERR_NO_READING = 1, 2, 3, 5
ERR_WARMUP = 1  #: manual: Err1 while the instrument warms up after power-on
ZERO_RANGE, SPAN_RANGE = (-100.0, 1000.0), (1.0, 1000.0)  #: analog output (manual)
DEFAULT_ZERO, DEFAULT_SPAN = -100.0, 350.0  #: zero: manual; span: model
ANALOG_ON_ERROR = {0: "Toggle", 1: "Max", 2: "Min"}  #: ``o<i>`` (manual)
HELP_LINES = (
    "b Return enclosure temperature",
    "e[1 2 ... n] Enable channels to scan (if no argument, scan all)",
    "f[i j] Set point adjustment on channel [i] to [j]",
    "h Help menu (this screen)",
    "i Get factory and status information",
    "l[i] Lock the keypad (l+ to lock, l- to unlock)",
    "o[i] Analog out, if error (0:Max-Min 1Hz, 1:Max level, 2:Min level)",
    "p[i] Sleep mode (p+ to sleep, p- for continuous scanning)",
    "q Scanning rate (q+ for fast/quick, q- for slow)",
    "s[i j] Specify analog output Span [j] for channel [i]",
    "t[i] Get Temperature reading channel [i]",
    "ta[i] Auto temperature output to serial port (+ to enable, - to disable)",
    "u[i] Unit (c = Celsius, f = Fahrenheit)",
    "y Quality index",
    "z[i j] Temperature [j] for analog output Zero on channel [i]",
)
PROBE_POWER = {1: 2.61, 2: 2.51, 3: 2.38, 4: 2.45}  #: returned power with a probe (manual example)
NO_PROBE_POWER = 0.85  #: returned power without a probe (manual: 0.3-1.1)
LAMP_ATTENUATION = {1: 250, 2: 250, 3: 125, 4: 125}
ENCLOSURE_START_C, ENCLOSURE_END_C, ENCLOSURE_TAU_S = 25.0, 32.0, 1200.0

_CMD_RE = re.compile(
    r"(?P<ta>ta(?P<ta_sign>[+-]))"
    r"|t(?P<t_ch>\d*)"
    r"|e(?P<e_args>(?:-?\d(?: -?\d)*)?)"
    r"|(?P<sign_cmd>[qlp])(?P<sign>[+-])"
    r"|u(?P<unit>[cf])"
    r"|o(?P<o_mode>\d)"
    r"|(?P<b>b)|(?P<i>i)|(?P<y>y)|(?P<h>h)"
    r"|(?P<analog>[sz])(?P<a_ch>\d*) (?P<a_val>\S+)"
    r"|f(?P<f_ch>\d*)(?: (?P<f_val>\S+))?"
)


class Probe(Protocol):
    """What the emulator needs of a probe (``labctl.simulators.physics.probes.FiberProbe``)."""

    broken: bool

    def read(self, world: SimWorld) -> float | None:
        """Probe temperature now, C (None = no light back: broken fiber)."""


class _Channel:
    __slots__ = ("probe", "history", "last_t", "offset_C")

    def __init__(self, probe: Probe | None) -> None:
        self.probe = probe
        self.history: deque[float | None] = deque(maxlen=4)
        self.last_t = -math.inf
        self.offset_C = 0.0


class NeoptixReflexEmulator(LineEmulator):
    """A ReFlex thermometer reading ``probes`` (``{channel: FiberProbe}``) in ``world``.

    State for tests: ``streaming``, ``fast``, ``units`` (``"c"``/``"f"``), ``enabled``
    (tuple of channels), ``offsets_C`` (``{channel: C}``), ``dropped_lines``.
    """

    @classmethod
    def from_bench(cls, world, *, name: str, options: dict, **kwargs) -> NeoptixReflexEmulator:
        """The emulated unit of a bench entry (``model_channels`` channels)."""
        return cls(world, name=name, channels=options.get("model_channels", 4), **kwargs)

    terminator = b"\r"
    stream_buffer_lines = 1024  #: stream lines kept for a host that does not read

    def __init__(
        self,
        world: SimWorld,
        *,
        name: str,
        channels: int = 4,
        probes: dict[int, Probe],
        warmup_s: float = 0.0,
        serial: str = "FOB111A",
        model: str = "ReFlex",
    ) -> None:
        super().__init__(world, name=name)
        if channels not in (1, 2, 4):
            raise ConfigError(f"{name}: channels must be 1, 2 or 4, not {channels!r}")
        bad = [ch for ch in probes if ch not in range(1, channels + 1)]
        if bad:
            raise ConfigError(f"{name}: probe channels {bad} not in 1..{channels}")
        self.channels = channels
        self._ch = {ch: _Channel(probes.get(ch)) for ch in range(1, channels + 1)}
        self.fast = True
        self.units = "c"
        self.enabled: tuple[int, ...] = tuple(self._ch)
        self.streaming = False
        self.asleep = False  #: ``p+``: a scan only on ``t``
        self.keypad_locked = False
        self.analog_on_error = 0
        self.zero = dict.fromkeys(self._ch, DEFAULT_ZERO)
        self.span = dict.fromkeys(self._ch, DEFAULT_SPAN)
        self.warmup_s = float(warmup_s)
        self.serial = str(serial)
        self.model = str(model)
        self.dropped_lines = 0
        self._stream_t0 = 0.0
        self._stream_count = 0  # lines due since ta+ (sent or dropped)
        self._stream_idx = 0  # position in the cycle through the enabled channels
        self._t0 = self.now()

    # -- introspection ----------------------------------------------------------------
    @property
    def probes(self) -> dict[int, Probe]:
        return {ch: c.probe for ch, c in self._ch.items() if c.probe is not None}

    @property
    def offsets_C(self) -> dict[int, float]:
        return {ch: c.offset_C for ch, c in self._ch.items()}

    def scan_period_s(self) -> float:
        """Time to scan every enabled channel once, s."""
        return CCD_TIME_S * len(self.enabled)

    # -- measurement ------------------------------------------------------------------
    def _raw(self, ch: _Channel) -> float | None:
        if ch.probe is None:
            return None
        value = ch.probe.read(self.world)
        if value is None:
            return None
        value += ch.offset_C
        return value if RANGE_C[0] <= value <= RANGE_C[1] else None

    def reading_C(self, channel: int, scan: bool = False) -> float | None:
        """The channel's current reading as the instrument reports it, C (None = invalid).

        Asleep (``p+``), a channel is measured only when ``scan`` (a ``t`` command)."""
        ch = self._ch[channel]
        now = self.now()
        period = self.scan_period_s()
        elapsed = now - ch.last_t
        if self.asleep and not scan:
            return ch.history[-1] if ch.history else None
        if elapsed >= period or (self.asleep and scan):
            # readings missed since the last refresh, up to the 4 that slow mode averages
            n = 1 if self.fast else min(4, max(1, int(elapsed / period)))
            for _ in range(n):
                ch.history.append(self._raw(ch))
            ch.last_t = now
        latest = ch.history[-1]
        if latest is None or self.fast:
            return latest
        valid = [v for v in ch.history if v is not None]
        return sum(valid) / len(valid)

    def _format(self, value_C: float | None) -> str:
        if value_C is None:
            return "---.-"
        value = value_C * 1.8 + 32.0 if self.units == "f" else value_C
        return f"{value:+.1f}"

    def enclosure_C(self) -> float:
        """Enclosure temperature: first-order warm-up from 25 C to 32 C (tau 20 min)."""
        t = max(0.0, self.now() - self._t0)
        return ENCLOSURE_END_C - (ENCLOSURE_END_C - ENCLOSURE_START_C) * math.exp(
            -t / ENCLOSURE_TAU_S
        )

    def probe_power(self, channel: int) -> float:
        """Optical power returned on ``channel`` (> 1.1 with a working probe)."""
        probe = self._ch[channel].probe
        if probe is None or getattr(probe, "broken", False):
            return NO_PROBE_POWER
        return PROBE_POWER[channel]

    # -- protocol ---------------------------------------------------------------------
    def handle(self, line: str) -> str:
        m = _CMD_RE.fullmatch(line.strip().lower())
        if m is None:
            return f"Err{ERR_UNKNOWN}"
        g = m.groupdict()
        try:
            if g["t_ch"] is not None and self.now() - self._t0 < self.warmup_s:
                raise _Refused(ERR_WARMUP)
            return self._dispatch(g)
        except _Refused as exc:
            return f"Err{exc.code}"

    def _dispatch(self, g: dict) -> str:
        if g["ta"]:
            return self._cmd_stream(g["ta_sign"] == "+")
        if g["t_ch"] is not None:
            return self._cmd_t(g["t_ch"])
        if g["e_args"] is not None:
            return self._cmd_enable(g["e_args"])
        if g["sign_cmd"]:
            on = g["sign"] == "+"
            attr = {"q": "fast", "l": "keypad_locked", "p": "asleep"}[g["sign_cmd"]]
            setattr(self, attr, on)
            return "*"
        if g["unit"]:
            self.units = g["unit"]
            return "*"
        if g["o_mode"] is not None:
            if int(g["o_mode"]) not in ANALOG_ON_ERROR:
                raise _Refused(ERR_ARGUMENT)
            self.analog_on_error = int(g["o_mode"])
            return "*"
        if g["analog"]:
            return self._cmd_analog(g["analog"], g["a_ch"], g["a_val"])
        if g["b"]:
            value = self.enclosure_C()
            value = value * 1.8 + 32.0 if self.units == "f" else value
            return f"b:{value:.1f}\r*"
        if g["i"]:
            return self._cmd_identity()
        if g["h"]:
            return "".join(text + "\r" for text in HELP_LINES) + "*"
        if g["y"]:
            return "".join(self._quality_line(ch) for ch in self._ch) + "*"
        return self._cmd_force(g["f_ch"], g["f_val"])

    def _quality_line(self, ch: int) -> str:
        return (
            f"CH{ch}: power:{self.probe_power(ch):.2f}, lamp attenuation: "
            f"{LAMP_ATTENUATION[ch]}, CCD time: 50ms (fixed)\r"
        )

    def _cmd_analog(self, which: str, index: str, value: str) -> str:
        ch = self._channel(index)
        low, high = ZERO_RANGE if which == "z" else SPAN_RANGE
        try:
            number = float(value)
        except ValueError:
            raise _Refused(ERR_ARGUMENT) from None
        if not low <= number <= high:
            raise _Refused(ERR_ARGUMENT)
        (self.zero if which == "z" else self.span)[ch] = number
        return "*"

    def _channel(self, text: str) -> int:
        """Channel from a command's index (omitted on 1-channel models)."""
        if self.channels == 1:
            if text:
                raise _Refused(ERR_ARGUMENT)
            return 1
        if not text or int(text) not in self._ch:
            raise _Refused(ERR_ARGUMENT)
        return int(text)

    def _cmd_t(self, index: str) -> str:
        if not index and self.channels > 1:
            return "".join(self._format(self._reading(ch)) + "\r" for ch in self._ch) + "*"
        return self._format(self._reading(self._channel(index))) + "\r*"

    def _reading(self, channel: int) -> float | None:
        """What ``t`` reports: ``None`` (``---.-``) for a channel that is not enabled."""
        return self.reading_C(channel, scan=True) if channel in self.enabled else None

    def _cmd_stream(self, on: bool) -> str:
        if on and not self.streaming:
            self._stream_t0 = self.now()
            self._stream_count = 0
            self._stream_idx = 0
        self.streaming = on
        return "*"

    def _cmd_enable(self, args: str) -> str:
        if self.channels == 1:
            raise _Refused(ERR_MODEL)
        items = args.split()
        enabled = set(self.enabled) if items else set(self._ch)  # bare "e": scan all
        for item in items:
            try:
                n = int(item)
            except ValueError:
                raise _Refused(ERR_ARGUMENT) from None
            if abs(n) not in self._ch or item in ("0", "-0"):
                raise _Refused(ERR_ARGUMENT)
            if n > 0:
                enabled.add(n)
            else:
                enabled.discard(-n)
        if not enabled:
            raise _Refused(ERR_ARGUMENT)
        self.enabled = tuple(sorted(enabled))
        self._stream_idx = 0
        return "*"

    def _cmd_identity(self) -> str:
        scale = 1.8 if self.units == "f" else 1.0
        lines = [
            f"Model: {self.model}",
            "Option:",
            f"NB Channel: {self.channels}",
            f"Mode: {'Sleep Mode' if self.asleep else 'Continuous Scanning Mode'}",
            f"Scanning rate: {'Fast' if self.fast else 'Slow'}",
            f"Serial: {self.serial}",
            "Internal Software: V1.21",
            "Last Factory Calibration: 05/02/04 (YY/MM/DD)",
            f"Unit: {self.units.upper()}",
            f"Analog out, if error: {ANALOG_ON_ERROR[self.analog_on_error]}",
            f"Keyboard Status: {'Lock' if self.keypad_locked else 'Unlock'}",
            "Channel\tZero\tSpan\tEnabled\tTemperature offset",
        ]
        lines += [
            f"{ch}\t{self.zero[ch]:.1f}\t{self.span[ch]:.1f}\t"
            f"{'Yes' if ch in self.enabled else 'No'}\t{c.offset_C * scale:+07.1f}"
            for ch, c in self._ch.items()
        ]
        return "".join(line + "\r" for line in lines) + "*"

    def _cmd_force(self, index: str, value: str | None) -> str:
        ch_no = self._channel(index)
        ch = self._ch[ch_no]
        if value is None:
            ch.offset_C = 0.0
            ch.history.clear()
            ch.last_t = -math.inf
            return "*"
        try:
            target = float(value)
        except ValueError:
            raise _Refused(ERR_ARGUMENT) from None
        if self.units == "f":
            target = (target - 32.0) / 1.8
        raw = ch.probe.read(self.world) if ch.probe is not None else None
        if raw is None or not math.isfinite(target):
            raise _Refused(ERR_NO_READING if raw is None else ERR_ARGUMENT)
        offset = target - raw
        if abs(offset) > MAX_OFFSET_C:
            raise _Refused(ERR_ARGUMENT)
        ch.offset_C = offset
        ch.history.clear()
        ch.last_t = -math.inf
        return "*"

    def poll(self) -> None:
        """Emit the stream lines due by now (at most ``stream_buffer_lines``; none while
        asleep: no scan is made)."""
        if not self.streaming or self.asleep:
            return
        # line k (k = 1, 2, ...) is due k CCD times after ``ta+``; 1e-9 absorbs rounding
        total = int((self.now() - self._stream_t0) / CCD_TIME_S + 1e-9)
        due = total - self._stream_count
        if due <= 0:
            return
        skip = max(0, due - self.stream_buffer_lines)
        self.dropped_lines += skip
        self._stream_count = total
        enabled = self.enabled
        idx = self._stream_idx + skip
        out = []
        for _ in range(due - skip):
            ch = enabled[idx % len(enabled)]
            idx += 1
            out.append(f"C:{ch};T: {self._format(self.reading_C(ch))}\r")
        self._stream_idx = idx
        self.emit("".join(out))


class _Refused(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code
