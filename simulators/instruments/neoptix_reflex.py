"""Emulator of a Neoptix ReFlex / Omega FOB10x fiber-optic thermometer (RS-232 ASCII).

Speaks the protocol described in ``labctl.devices.drivers.neoptix_reflex`` (commands
end with CR, no echo, success ends with the prompt ``*``, failure with ``Err<x>``; reply
lines end with CR; ``---.-`` for a channel without a valid reading).  The decisions the
manual leaves open are repeated here on the instrument side, since an emulator never
imports a driver:

- error prompts ``Err1`` unknown command, ``Err2`` invalid argument (channel index,
  number, range, an offset beyond +/-5 C), ``Err3`` not on this model (``e`` on a
  1-channel model), ``Err4`` ``t<i>`` on a disabled channel, ``Err5`` ``f`` on a channel
  without a valid reading;
- ``i`` reply: ``Key: value`` lines, one ``CHn: Enabled: Yes, Offset: +0.0`` per channel;
- commands are case-insensitive and surrounding blanks are ignored.

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
ERR_UNKNOWN, ERR_ARGUMENT, ERR_MODEL, ERR_DISABLED, ERR_NO_READING = 1, 2, 3, 4, 5
PROBE_POWER = {1: 2.61, 2: 2.51, 3: 2.38, 4: 2.45}  #: returned power with a probe (manual example)
NO_PROBE_POWER = 0.85  #: returned power without a probe (manual: 0.3-1.1)
LAMP_ATTENUATION = {1: 250, 2: 250, 3: 125, 4: 125}
ENCLOSURE_START_C, ENCLOSURE_END_C, ENCLOSURE_TAU_S = 25.0, 32.0, 1200.0

_CMD_RE = re.compile(
    r"(?P<ta>ta\s*(?P<ta_sign>[+-]))"
    r"|t(?P<t_ch>\d*)"
    r"|e(?P<e_args>[-\d;\s]*)"
    r"|q(?P<q_sign>[+-])"
    r"|u\s*(?P<unit>[cf])"
    r"|(?P<b>b)|(?P<i>i)|(?P<y>y)"
    r"|f(?P<f_ch>\d*)(?:\s+(?P<f_val>\S+))?"
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
        self, world: SimWorld, *, name: str, channels: int = 4, probes: dict[int, Probe]
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

    def reading_C(self, channel: int) -> float | None:
        """The channel's current reading as the instrument reports it, C (None = invalid)."""
        ch = self._ch[channel]
        now = self.now()
        period = self.scan_period_s()
        elapsed = now - ch.last_t
        if elapsed >= period:
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
        cmd = line.strip().lower()
        m = _CMD_RE.fullmatch(cmd)
        if m is None:
            return f"Err{ERR_UNKNOWN}"
        g = m.groupdict()
        try:
            if g["ta"]:
                return self._cmd_stream(g["ta_sign"] == "+")
            if g["t_ch"] is not None:
                return self._cmd_t(g["t_ch"])
            if g["e_args"] is not None:
                return self._cmd_enable(g["e_args"])
            if g["q_sign"]:
                self.fast = g["q_sign"] == "+"
                return "*"
            if g["unit"]:
                self.units = g["unit"]
                return "*"
            if g["b"]:
                value = self.enclosure_C()
                value = value * 1.8 + 32.0 if self.units == "f" else value
                return f"b:{value:.1f}\r*"
            if g["i"]:
                return self._cmd_identity()
            if g["y"]:
                return (
                    "".join(
                        f"CH{ch}: power:{self.probe_power(ch):.2f}, lamp attenuation: "
                        f"{LAMP_ATTENUATION[ch]}, CCD time: 50ms (fixed)\r"
                        for ch in self._ch
                    )
                    + "*"
                )
            return self._cmd_force(g["f_ch"], g["f_val"])
        except _Refused as exc:
            return f"Err{exc.code}"

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
            return "".join(self._format(self.reading_C(ch)) + "\r" for ch in self.enabled) + "*"
        ch = self._channel(index)
        if ch not in self.enabled:
            raise _Refused(ERR_DISABLED)
        return self._format(self.reading_C(ch)) + "\r*"

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
        items = [a.strip() for a in args.split(";")] if args.strip() else []
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
            "Model: Neoptix ReFlex (simulated)",
            f"Serial: SIM-{self.name}",
            "Internal Software: V1.21",
            f"Channels: {self.channels}",
            "Mode: Continuous Scanning Mode",
            f"Scanning rate: {'Fast' if self.fast else 'Slow'}",
            f"Unit: {self.units.upper()}",
            f"Streaming: {'On' if self.streaming else 'Off'}",
        ]
        lines += [
            f"CH{ch}: Enabled: {'Yes' if ch in self.enabled else 'No'}, "
            f"Offset: {c.offset_C * scale:+.1f}"
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
        """Emit the stream lines due by now (at most ``stream_buffer_lines``)."""
        if not self.streaming:
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
