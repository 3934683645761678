"""Fault injection for the instrument emulators: a bad link, a broken probe, a trip.

Two levels, both reachable at runtime and from a bench file's per-device ``faults:``:

- **link faults** (:class:`FaultInjector`, attached to an emulator's ``faults`` hook,
  which filters every byte between host and instrument): ``drop`` (bytes lost with
  probability ``p``), ``garble`` (bytes corrupted with probability ``p``: XOR with a
  random non-zero byte), ``delay`` (bytes held for ``delay_s`` of clock time, then
  delivered late), ``disconnect`` (the port is gone: writes and reads fail, unread
  bytes are lost, until ``reconnect()`` or the end of ``duration_s``).  ``direction``
  is ``"out"`` (instrument to host, the default), ``"in"`` (host to instrument) or
  ``"both"``.
- **instrument faults** (:data:`INSTRUMENT_FAULTS`), through the emulators' own entry
  points: ``probe_broken`` / ``probe_stuck`` (a thermometer channel reads ``---.-`` /
  a frozen ``value``), ``interlock_open``, ``keylock_off``, ``laser_overtemperature``
  (laser controller), ``coolant_loss``, ``generator_trip`` (coil over-temperature of
  an AMF generator).

:class:`FaultController` holds one bench's emulators and applies :class:`Fault` specs
now or at a clock time (``at_s`` after now), clearing them after ``duration_s``.
Random decisions come from a seeded generator, so a lockstep run is repeatable.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from labctl.core.clock import Clock
from labctl.core.errors import ConfigError

__all__ = [
    "LINK_FAULTS",
    "INSTRUMENT_FAULTS",
    "FAULT_KINDS",
    "Fault",
    "FaultInjector",
    "FaultController",
]

LINK_FAULTS = ("drop", "garble", "delay", "disconnect")
DIRECTIONS = ("in", "out", "both")


@dataclass
class _LinkFault:
    kind: str
    p: float
    direction: str
    delay_s: float
    until: float | None  # clock time at which the fault ends (None: until cleared)

    def applies(self, direction: str, now: float) -> bool:
        live = self.until is None or now < self.until
        return live and self.direction in (direction, "both")


class FaultInjector:
    """Byte-level faults on one emulator's link (``emulator.faults = injector``).

    ``stats`` counts what was done: ``dropped``, ``garbled``, ``delayed`` bytes and
    ``refused`` transfers while disconnected.
    """

    def __init__(self, *, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._faults: list[_LinkFault] = []
        self._held: dict[str, list[tuple[float, bytes]]] = {"in": [], "out": []}
        self._down_until: float | None = None
        self._down = False
        self.stats: Counter[str] = Counter()
        self.emulator = None

    def attach(self, emulator) -> FaultInjector:
        """Install on ``emulator`` (which must offer the ``faults`` hook)."""
        if not hasattr(emulator, "faults"):
            raise ConfigError(f"{emulator!r} has no fault hook")
        emulator.faults = self
        self.emulator = emulator
        return self

    def _now(self, emulator=None) -> float:
        emu = emulator if emulator is not None else self.emulator
        return float(emu.now()) if emu is not None else 0.0

    # -- faults -----------------------------------------------------------------------
    def add(
        self,
        kind: str,
        *,
        p: float = 1.0,
        direction: str = "out",
        delay_s: float = 0.0,
        duration_s: float | None = None,
    ) -> None:
        """Start a link fault (``drop``, ``garble``, ``delay`` or ``disconnect``)."""
        if kind not in LINK_FAULTS:
            raise ConfigError(f"unknown link fault {kind!r} (known: {', '.join(LINK_FAULTS)})")
        if direction not in DIRECTIONS:
            raise ConfigError(f"fault direction must be one of {DIRECTIONS}, not {direction!r}")
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"fault probability must be in [0, 1], not {p!r}")
        if kind == "delay" and not delay_s > 0:
            raise ConfigError(f"a delay fault needs delay_s > 0, not {delay_s!r}")
        until = None if duration_s is None else self._now() + float(duration_s)
        if kind == "disconnect":
            self.disconnect(duration_s)
            return
        self._faults.append(_LinkFault(kind, float(p), direction, float(delay_s), until))

    def drop(self, p: float = 1.0, direction: str = "out", duration_s: float | None = None):
        self.add("drop", p=p, direction=direction, duration_s=duration_s)

    def garble(self, p: float = 1.0, direction: str = "out", duration_s: float | None = None):
        self.add("garble", p=p, direction=direction, duration_s=duration_s)

    def delay(self, delay_s: float, direction: str = "out", duration_s: float | None = None):
        self.add("delay", delay_s=delay_s, direction=direction, duration_s=duration_s)

    def disconnect(self, duration_s: float | None = None) -> None:
        """The link is gone (cable pulled, port closed) until :meth:`reconnect` or
        ``duration_s`` of clock time; bytes in flight are lost."""
        self._down = True
        self._down_until = None if duration_s is None else self._now() + float(duration_s)
        for held in self._held.values():
            held.clear()
        close = getattr(self.emulator, "close_connection", None)
        if close is not None:
            close()

    def reconnect(self) -> None:
        self._down = False
        self._down_until = None

    @property
    def connected(self) -> bool:
        if self._down and self._down_until is not None and self._now() >= self._down_until:
            self.reconnect()
        return not self._down

    def clear(self) -> None:
        """End every link fault (held bytes are delivered at the next transfer)."""
        self._faults.clear()
        self.reconnect()

    @property
    def active(self) -> list[str]:
        now = self._now()
        kinds = [f.kind for f in self._faults if f.until is None or now < f.until]
        return kinds + ([] if self.connected else ["disconnect"])

    # -- the emulator hook ------------------------------------------------------------
    def filter_in(self, emulator, data: bytes) -> bytes:
        """Host -> instrument."""
        return self._filter(emulator, data, "in")

    def filter_out(self, emulator, data: bytes) -> bytes:
        """Instrument -> host."""
        return self._filter(emulator, data, "out")

    def _filter(self, emulator, data: bytes, direction: str) -> bytes:
        if self.emulator is None:
            self.emulator = emulator
        if not self.connected:
            self.stats["refused"] += 1
            raise ConnectionResetError(
                f"{getattr(emulator, 'name', 'instrument')}: link down "
                "(fault injection: disconnected)"
            )
        now = self._now(emulator)
        self._faults = [f for f in self._faults if f.until is None or now < f.until]
        held_in = self._release("in", now)  # held earlier, due now: delivered as they are
        if held_in:
            emulator.receive(held_in)
        late = self._release("out", now) if direction == "out" else b""
        for fault in self._faults:
            if not data:
                break
            if not fault.applies(direction, now):
                continue
            if fault.kind == "drop":
                data = self._drop(data, fault.p)
            elif fault.kind == "garble":
                data = self._garble(data, fault.p)
            elif fault.kind == "delay":
                self._held[direction].append((now + fault.delay_s, data))
                self.stats["delayed"] += len(data)
                data = b""
        return late + data

    def _release(self, direction: str, now: float) -> bytes:
        held = self._held[direction]
        due = [d for t, d in held if t <= now]
        if due:
            held[:] = [(t, d) for t, d in held if t > now]
        return b"".join(due)

    def _drop(self, data: bytes, p: float) -> bytes:
        if p >= 1.0:
            self.stats["dropped"] += len(data)
            return b""
        kept = bytes(b for b in data if self._rng.random() >= p)
        self.stats["dropped"] += len(data) - len(kept)
        return kept

    def _garble(self, data: bytes, p: float) -> bytes:
        out = bytearray(data)
        for i in range(len(out)):
            if p >= 1.0 or self._rng.random() < p:
                out[i] ^= self._rng.randrange(1, 256)
                self.stats["garbled"] += 1
        return bytes(out)


# --- instrument-level faults ------------------------------------------------------------
def _probe(emulator, channel: int | None):
    probes = getattr(emulator, "probes", None)
    if probes is None:
        raise ConfigError(f"{emulator.name}: not a thermometer; probe faults need one")
    if channel not in probes:
        raise ConfigError(
            f"{emulator.name}: no probe on channel {channel!r} (probes on {sorted(probes)})"
        )
    return probes[channel]


def _need(emulator, method: str, kind: str):
    fn = getattr(emulator, method, None)
    if fn is None:
        raise ConfigError(f"{emulator.name}: fault {kind!r} does not apply to this instrument")
    return fn


def _probe_fault(attr: str, on_value, off_value):
    def apply(emulator, fault: Fault) -> None:
        value = fault.value if on_value is _VALUE else on_value
        setattr(_probe(emulator, fault.channel), attr, value)

    def clear(emulator, fault: Fault) -> None:
        setattr(_probe(emulator, fault.channel), attr, off_value)

    return apply, clear


def _call(method: str, on, off, kind: str, **kw):
    def apply(emulator, fault: Fault) -> None:
        _need(emulator, method, kind)(on, **kw)

    def clear(emulator, fault: Fault) -> None:
        _need(emulator, method, kind)(off, **kw)

    return apply, clear


_VALUE = object()  # "the fault's value"
#: kind -> (apply, clear), each called as fn(emulator, fault)
INSTRUMENT_FAULTS = {
    "probe_broken": _probe_fault("broken", True, False),
    "probe_stuck": _probe_fault("stuck_value", _VALUE, None),
    "interlock_open": _call("set_interlock", False, True, "interlock_open"),
    "keylock_off": _call("set_keylock", False, True, "keylock_off"),
    "laser_overtemperature": _call("set_overtemperature", True, False, "laser_overtemperature"),
    "coolant_loss": _call("set_coolant_ok", False, True, "coolant_loss"),
    "generator_trip": _call("set_overtemperature", True, False, "generator_trip", where="coil"),
}
#: the emulator attribute that tells an instrument fault applies
_TARGETS = {
    "probe_broken": "probes",
    "probe_stuck": "probes",
    "interlock_open": "set_interlock",
    "keylock_off": "set_keylock",
    "laser_overtemperature": "set_interlock",
    "coolant_loss": "set_coolant_ok",
    "generator_trip": "set_coolant_ok",
}
FAULT_KINDS = LINK_FAULTS + tuple(INSTRUMENT_FAULTS)


@dataclass(frozen=True)
class Fault:
    """One fault on one device.  Units: s of clock time, C (``value``)."""

    kind: str
    device: str
    channel: int | None = None  #: thermometer channel (probe faults)
    value: float | None = None  #: probe_stuck: the frozen reading, C
    p: float = 1.0  #: drop/garble probability per byte
    direction: str = "out"  #: link faults: "in", "out" or "both"
    delay_s: float = 1.0  #: delay faults
    duration_s: float | None = None  #: cleared after this long (None: stays)
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ConfigError(f"unknown fault kind {self.kind!r} (known: {', '.join(FAULT_KINDS)})")
        if self.kind == "probe_stuck" and self.value is None:
            raise ConfigError("a probe_stuck fault needs the frozen reading 'value' (C)")
        if self.kind.startswith("probe_") and self.channel is None:
            raise ConfigError(f"a {self.kind} fault needs a channel (or a role in a bench file)")

    def describe(self) -> str:
        where = f"{self.device}" + (f" ch{self.channel}" if self.channel is not None else "")
        extra = {
            "probe_stuck": f" at {self.value:g} C" if self.value is not None else "",
            "drop": f" p={self.p:g} {self.direction}",
            "garble": f" p={self.p:g} {self.direction}",
            "delay": f" {self.delay_s:g} s {self.direction}",
        }.get(self.kind, "")
        lasting = f" for {self.duration_s:g} s" if self.duration_s is not None else ""
        return f"{self.kind}{extra} on {where}{lasting}"


@dataclass
class _Applied:
    fault: Fault
    time: float
    cleared: float | None = None
    timer: object = field(default=None, repr=False)


class FaultController:
    """Apply :class:`Fault` specs to a bench's emulators, now or at a clock time.

    ``emulators``: ``{device name: emulator}``; ``clock``: the bench clock.  ``log``
    lists every fault applied (with its clock time and when it was cleared).
    """

    def __init__(self, emulators: dict, clock: Clock, *, seed: int = 0) -> None:
        self.emulators = dict(emulators)
        self.clock = clock
        self.seed = seed
        self._injectors: dict[str, FaultInjector] = {}
        self.log: list[_Applied] = []
        self._timers: list = []

    def injector(self, device: str) -> FaultInjector:
        """The link injector of ``device`` (created and attached on first use)."""
        if device not in self._injectors:
            emulator = self._emulator(device)
            salt = sum(device.encode()) * 7919
            self._injectors[device] = FaultInjector(seed=self.seed + salt).attach(emulator)
        return self._injectors[device]

    def _emulator(self, device: str):
        if device not in self.emulators:
            raise ConfigError(
                f"no simulated device {device!r} to inject a fault into "
                f"(devices: {', '.join(self.emulators)})"
            )
        return self.emulators[device]

    def check(self, fault: Fault) -> None:
        """Raise ``ConfigError`` if ``fault`` cannot apply to its device."""
        emulator = self._emulator(fault.device)
        if fault.kind in INSTRUMENT_FAULTS:
            if not hasattr(emulator, _TARGETS[fault.kind]):
                raise ConfigError(
                    f"fault {fault.kind!r} does not apply to device "
                    f"{fault.device!r} ({type(emulator).__name__})"
                )
            if fault.kind.startswith("probe_"):
                _probe(emulator, fault.channel)
        elif not hasattr(emulator, "faults"):
            raise ConfigError(f"device {fault.device!r} has no link to inject faults into")

    def inject(self, fault: Fault | str, device: str | None = None, **params) -> Fault:
        """Apply a fault now: ``inject(Fault(...))`` or ``inject("coolant_loss", "amf")``."""
        if isinstance(fault, str):
            fault = Fault(fault, device, **params)
        self.check(fault)
        emulator = self._emulator(fault.device)
        if fault.kind in INSTRUMENT_FAULTS:
            INSTRUMENT_FAULTS[fault.kind][0](emulator, fault)
        else:
            inj = self.injector(fault.device)
            inj.add(
                fault.kind,
                p=fault.p,
                direction=fault.direction,
                delay_s=fault.delay_s,
                duration_s=fault.duration_s,
            )
        applied = _Applied(fault, self.clock.now())
        self.log.append(applied)
        if fault.duration_s is not None and fault.kind in INSTRUMENT_FAULTS:
            applied.timer = self._once(fault.duration_s, lambda: self._clear(applied))
        return fault

    def schedule(
        self, at_s: float, fault: Fault | str, device: str | None = None, **params
    ) -> Fault:
        """Apply a fault ``at_s`` seconds of clock time from now."""
        if isinstance(fault, str):
            fault = Fault(fault, device, **params)
        self.check(fault)
        if at_s <= 0:
            return self.inject(fault)
        self._once(at_s, lambda: self.inject(fault))
        return fault

    def clear(self, device: str | None = None) -> None:
        """End every fault (of ``device``, if given)."""
        for applied in self.log:
            if applied.cleared is None and (device is None or applied.fault.device == device):
                self._clear(applied)
        for name, inj in self._injectors.items():
            if device is None or name == device:
                inj.clear()

    def _clear(self, applied: _Applied) -> None:
        if applied.cleared is not None:
            return
        fault = applied.fault
        if fault.kind in INSTRUMENT_FAULTS:
            INSTRUMENT_FAULTS[fault.kind][1](self._emulator(fault.device), fault)
        applied.cleared = self.clock.now()

    def cancel_scheduled(self) -> None:
        """Forget faults scheduled for later."""
        for task in self._timers:
            task.cancel()
        self._timers.clear()

    def _once(self, delay_s: float, fn):
        box: list = []

        def fire() -> None:
            box[0].cancel()
            fn()

        box.append(self.clock.call_every(float(delay_s), fire, name="fault"))
        self._timers.append(box[0])
        return box[0]

    @property
    def active(self) -> list[Fault]:
        """Instrument faults applied and not cleared, then link faults now active."""
        out = [a.fault for a in self.log if a.cleared is None and a.fault.kind in INSTRUMENT_FAULTS]
        for name, inj in self._injectors.items():
            out += [Fault(kind, name) for kind in inj.active]
        return out
