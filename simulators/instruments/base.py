"""Base class of the line-oriented instrument emulators.

An emulator is what sits at the far end of a transport: it receives bytes with
``write(data)`` and hands out whatever it has answered with ``read()``.  It never
imports a driver; it sees only bytes, exactly like a real instrument.  Time comes
from the world's clock, physics from the world's sample.

Subclasses implement ``handle(line)`` (one complete command line, terminator
stripped, decoded) returning the reply text/bytes or ``None`` for no reply, and may
override ``poll()`` to produce unsolicited output (streaming) up to the current time.
"""

from __future__ import annotations

import threading

from labctl.simulators.physics.world import SimWorld

__all__ = ["LineEmulator"]


class LineEmulator:
    """Bytes-in/bytes-out emulator for instruments with line-terminated commands.

    ``terminator`` ends each command sent by the host.  ``max_output`` bounds what
    is kept for a host that never reads (a real device's buffer overflows the same
    way: the oldest bytes are lost).
    """

    terminator: bytes = b"\r"
    encoding: str = "ascii"
    max_output: int = 64 * 1024

    def __init__(self, world: SimWorld | None = None, *, name: str = "emulator") -> None:
        self.world = world
        self.name = name
        self.lock = threading.RLock()
        self._inbuf = bytearray()
        self._out = bytearray()
        self.faults = None  #: optional fault injector (labctl.simulators.faults)

    # -- transport side -------------------------------------------------------------
    @property
    def realtime(self) -> bool:
        """True when the world's clock runs on wall time (hosts should wait for bytes)."""
        clock = getattr(self.world, "clock", None)
        return clock is not None and getattr(clock, "mode", "wall") != "lockstep"

    def write(self, data: bytes) -> None:
        """Bytes from the host (through the fault injector, if one is attached)."""
        with self.lock:
            if self.faults is not None:
                data = self.faults.filter_in(self, data)
            self.receive(data)

    def receive(self, data: bytes) -> None:
        """Bytes that reached the instrument: split into command lines and answer them."""
        with self.lock:
            self._inbuf.extend(data)
            while True:
                idx = self._inbuf.find(self.terminator)
                if idx < 0:
                    break
                raw = bytes(self._inbuf[:idx])
                del self._inbuf[: idx + len(self.terminator)]
                line = raw.decode(self.encoding, errors="replace")
                reply = self.handle(line)
                if reply is not None:
                    self.emit(reply)

    def read(self) -> bytes:
        """Everything the instrument has sent since the last read."""
        with self.lock:
            self.poll()
            out = bytes(self._out)
            self._out.clear()
            if self.faults is not None:
                out = self.faults.filter_out(self, out)
            return out

    def emit(self, reply: bytes | str) -> None:
        """Queue bytes for the host (dropping the oldest beyond ``max_output``)."""
        if isinstance(reply, str):
            reply = reply.encode(self.encoding)
        with self.lock:
            self._out.extend(reply)
            overflow = len(self._out) - self.max_output
            if overflow > 0:
                del self._out[:overflow]

    def close_connection(self) -> None:
        """The host disconnected: forget partial input and unread output."""
        with self.lock:
            self._inbuf.clear()
            self._out.clear()

    # -- instrument side ------------------------------------------------------------
    def handle(self, line: str) -> bytes | str | None:
        raise NotImplementedError

    def poll(self) -> None:
        """Produce unsolicited output due by now (streaming instruments override)."""

    def now(self) -> float:
        return self.world.clock.now() if self.world is not None else 0.0
