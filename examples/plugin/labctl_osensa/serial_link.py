"""A labctl transport seen as the serial-port object minimalmodbus talks through.

minimalmodbus accepts any object with pyserial's ``open``, ``close``, ``read``,
``write`` and ``is_open``; this one passes the bytes to a
:class:`labctl.core.transport.Transport`, so the same Modbus code reaches a local
port, a serial device server, ``labctl sim serve`` or an in-process emulator.
"""

from __future__ import annotations

import time

from labctl.core.transport import Transport

__all__ = ["TransportSerial"]


class TransportSerial:
    """pyserial-like wrapper of ``transport`` (``timeout`` in s, ``baudrate`` in Bd).

    ``baudrate`` only sets the silent interval minimalmodbus keeps between frames.
    """

    def __init__(self, transport: Transport, *, baudrate: int = 9600) -> None:
        self.transport = transport
        self.baudrate = int(baudrate)
        self.port = transport.address
        self.is_open = True
        self._pending = bytearray()  # bytes read past the last frame asked for

    @property
    def timeout(self) -> float:
        return self.transport.timeout

    def open(self) -> None:
        self.is_open = True

    def close(self) -> None:
        """Leaves the transport open: the bench owns it."""

    def write(self, data: bytes) -> int:
        self.transport.write(bytes(data))
        return len(data)

    def read(self, size: int = 1) -> bytes:
        """Up to ``size`` bytes, waiting at most ``timeout`` s for them."""
        out = self._pending
        self._pending = bytearray()
        deadline = time.monotonic() + self.transport.timeout
        while len(out) < size:
            remaining = deadline - time.monotonic()
            chunk = self.transport.read_some(max(0.0, remaining))
            if chunk:
                out += chunk
                continue
            if remaining <= 0 or not self.transport.waits_for_bytes:
                break
        self._pending = out[size:]  # what belongs to a later frame
        return bytes(out[:size])

    def reset_input_buffer(self) -> None:
        self._pending.clear()
        self.transport.discard_input()

    def reset_output_buffer(self) -> None:
        """Nothing is held back on the way out."""

    def flush(self) -> None:
        """Writes are flushed by the transport."""
