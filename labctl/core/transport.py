"""Byte transports: one ``open_transport(address)`` for every way to reach an instrument.

==============================================  ===========================  ==========
address                                         goes to                      library
==============================================  ===========================  ==========
``serial:///dev/ttyUSB0?baudrate=9600``         a local serial port          pyserial
``socket://host:port``, ``rfc2217://host:port``  serial device server / sim   pyserial
``loop://``                                     a loop-back (tests)          pyserial
``visa://TCPIP0::host::5025::SOCKET``           a VISA resource              pyvisa
``sim://NAME``                                  in-process emulator NAME     labctl
==============================================  ===========================  ==========

A transport has ``write``, ``read_until``, ``query``, ``close``, a ``timeout`` (s), a
re-entrant ``lock`` (hold it for a whole exchange) and an optional traffic ``log``.
Errors name the address, the command and what came back.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from labctl.core.errors import ConfigError, TransportError

__all__ = [
    "Transport",
    "TrafficLog",
    "open_transport",
    "register_sim",
    "unregister_sim",
    "sim_registry",
]


@dataclass(frozen=True)
class TrafficRecord:
    """One chunk of bytes on the wire: ``direction`` is ``"out"`` (to the instrument)
    or ``"in"``; ``time`` is wall-clock epoch seconds."""

    direction: str
    data: bytes
    time: float


class TrafficLog:
    """Bounded record of the bytes a transport sent and received."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self.records: deque[TrafficRecord] = deque(maxlen=maxlen)

    def add(self, direction: str, data: bytes) -> None:
        self.records.append(TrafficRecord(direction, bytes(data), time.time()))

    def sent(self) -> list[bytes]:
        """Everything written to the instrument, one entry per write."""
        return [r.data for r in self.records if r.direction == "out"]

    def received(self) -> bytes:
        return b"".join(r.data for r in self.records if r.direction == "in")

    def clear(self) -> None:
        self.records.clear()


class Transport:
    """Base class: subclasses implement ``_raw_write``, ``_raw_read`` and ``_raw_close``.

    ``_raw_read(timeout_s)`` returns whatever bytes arrive within ``timeout_s``
    (possibly ``b""``); reading in blocks and splitting on the terminator here avoids
    pyserial's byte-at-a-time ``read_until``.
    """

    def __init__(self, address: str, timeout: float = 1.0, log: bool | TrafficLog = False):
        self.address = address
        self.timeout = float(timeout)
        self.lock = threading.RLock()
        self.log: TrafficLog | None = (
            log if isinstance(log, TrafficLog) else (TrafficLog() if log else None)
        )
        self._buffer = bytearray()
        self.closed = False

    # -- subclass hooks -------------------------------------------------------------
    def _raw_write(self, data: bytes) -> None:
        raise NotImplementedError

    def _raw_read(self, timeout_s: float) -> bytes:
        raise NotImplementedError

    def _raw_close(self) -> None:
        raise NotImplementedError

    # -- public API -----------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Send ``data`` as is."""
        if self.closed:
            raise TransportError(f"cannot write {data!r} to {self.address}: transport closed")
        with self.lock:
            try:
                self._raw_write(data)
            except TransportError:
                raise
            except Exception as exc:
                raise TransportError(f"writing {data!r} to {self.address} failed: {exc}") from exc
            if self.log is not None:
                self.log.add("out", data)

    def read_until(
        self, terminator: bytes, timeout: float | None = None, command: bytes | None = None
    ) -> bytes:
        """Read up to and including ``terminator``; raise ``TransportError`` on timeout.

        ``command`` only serves the error message (what was asked).
        """
        timeout = self.timeout if timeout is None else timeout
        with self.lock:
            deadline = time.monotonic() + timeout
            while True:
                idx = self._buffer.find(terminator)
                if idx >= 0:
                    end = idx + len(terminator)
                    out = bytes(self._buffer[:end])
                    del self._buffer[:end]
                    return out
                remaining = deadline - time.monotonic()
                chunk = self._read_chunk(remaining) if remaining > 0 else b""
                if chunk:
                    self._buffer.extend(chunk)
                    continue
                if remaining <= 0 or not self._can_wait():
                    got = bytes(self._buffer)
                    what = f"to {command!r} " if command is not None else ""
                    raise TransportError(
                        f"no reply {what}ending in {terminator!r} from {self.address} "
                        f"within {timeout:g} s (received {got!r})"
                    )

    def _can_wait(self) -> bool:
        """Whether more bytes may still arrive while the wall clock runs."""
        return True

    @property
    def waits_for_bytes(self) -> bool:
        """Whether waiting (wall time) can bring more bytes; false for an in-process
        emulator on a lockstep clock, which has said all it will say."""
        return self._can_wait()

    def read_some(self, timeout: float = 0.0) -> bytes:
        """Whatever has arrived, waiting up to ``timeout`` s for the first bytes.

        For drivers that frame replies themselves (several possible terminators).
        """
        with self.lock:
            if self._buffer:
                out = bytes(self._buffer)
                self._buffer.clear()
                return out
            return self._read_chunk(timeout if self._can_wait() else 0.0)

    def read_available(self) -> bytes:
        """Return whatever has arrived (buffered or waiting), without blocking long."""
        with self.lock:
            chunk = self._read_chunk(0.0)
            self._buffer.extend(chunk)
            out = bytes(self._buffer)
            self._buffer.clear()
            return out

    def discard_input(self) -> bytes:
        """Drop stale input (resynchronise after garbage); returns what was dropped."""
        return self.read_available()

    def query(self, data: bytes, terminator: bytes, timeout: float | None = None) -> bytes:
        """Write ``data`` and read one reply ending in ``terminator``, holding the lock."""
        with self.lock:
            self.write(data)
            return self.read_until(terminator, timeout=timeout, command=data)

    def close(self) -> None:
        with self.lock:
            if not self.closed:
                self.closed = True
                try:
                    self._raw_close()
                except Exception as exc:
                    raise TransportError(f"closing {self.address} failed: {exc}") from exc

    def _read_chunk(self, timeout_s: float) -> bytes:
        if self.closed:
            raise TransportError(f"cannot read from {self.address}: transport closed")
        try:
            chunk = self._raw_read(timeout_s)
        except TransportError:
            raise
        except Exception as exc:
            raise TransportError(f"reading from {self.address} failed: {exc}") from exc
        if chunk and self.log is not None:
            self.log.add("in", chunk)
        return chunk

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.address}>"


class SerialTransport(Transport):
    """pyserial: local ports and pyserial URL handlers (socket://, rfc2217://, loop://)."""

    def __init__(self, address: str, url: str, serial_options: dict, **kw):
        super().__init__(address, **kw)
        import serial

        try:
            self._port = serial.serial_for_url(url, timeout=0, **serial_options)
        except (serial.SerialException, ValueError, OSError) as exc:
            raise TransportError(f"cannot open {address}: {exc}") from exc

    def _raw_write(self, data: bytes) -> None:
        self._port.write(data)
        self._port.flush()

    def _raw_read(self, timeout_s: float) -> bytes:
        # With timeout 0 pyserial reads whatever is waiting, without blocking; on
        # socket:// this also avoids in_waiting, which reports at most one byte there.
        port = self._port
        port.timeout = 0
        data = port.read(65536)
        if data or timeout_s <= 0:
            return data
        port.timeout = min(timeout_s, 0.05)
        try:
            first = port.read(1)
        finally:
            port.timeout = 0
        return first + port.read(65536) if first else b""

    def _raw_close(self) -> None:
        self._port.close()


class VisaTransport(Transport):
    """pyvisa: any VISA resource; the backend defaults to pyvisa-py (``@py``)."""

    def __init__(self, address: str, resource: str, backend: str = "@py", **kw):
        super().__init__(address, **kw)
        import pyvisa

        try:
            self._rm = pyvisa.ResourceManager(backend)
            self._res = self._rm.open_resource(resource, open_timeout=int(self.timeout * 1000))
        except Exception as exc:
            raise TransportError(f"cannot open {address}: {exc}") from exc
        self._res.read_termination = None
        self._res.write_termination = None

    def _raw_write(self, data: bytes) -> None:
        self._res.write_raw(data)

    def _raw_read(self, timeout_s: float) -> bytes:
        # VISA reads are framed by the termination character: see read_until.
        return b""

    def read_until(
        self, terminator: bytes, timeout: float | None = None, command: bytes | None = None
    ) -> bytes:
        """One VISA read terminated by ``terminator`` (VISA's termchar does the framing)."""
        import pyvisa

        timeout = self.timeout if timeout is None else timeout
        with self.lock:
            self._res.timeout = max(int(timeout * 1000), 1)
            self._res.read_termination = terminator.decode("latin-1")
            try:
                data = bytes(self._res.read_raw())
            except pyvisa.errors.VisaIOError as exc:
                what = f"to {command!r} " if command is not None else ""
                if exc.error_code == pyvisa.constants.StatusCode.error_timeout:
                    raise TransportError(
                        f"no reply {what}ending in {terminator!r} from {self.address} "
                        f"within {timeout:g} s"
                    ) from None
                raise TransportError(f"reading {what}from {self.address} failed: {exc}") from exc
            finally:
                self._res.read_termination = None
            if self.log is not None:
                self.log.add("in", data)
            return data

    def _raw_close(self) -> None:
        self._res.close()


class SimTransport(Transport):
    """In-process link to an emulator object with ``write(bytes)`` and ``read() -> bytes``.

    Emulators answer synchronously.  When nothing is waiting, an emulator on a lockstep
    clock will not produce more while the wall clock runs, so the timeout is reported
    at once; an emulator whose ``realtime`` attribute is true is polled until the
    timeout, like a real port.
    """

    def __init__(self, address: str, emulator, **kw):
        super().__init__(address, **kw)
        self.emulator = emulator

    def _raw_write(self, data: bytes) -> None:
        self.emulator.write(data)

    def _raw_read(self, timeout_s: float) -> bytes:
        data = self.emulator.read()
        if data or timeout_s <= 0 or not getattr(self.emulator, "realtime", False):
            return data
        deadline = time.monotonic() + timeout_s
        while not data and time.monotonic() < deadline:
            time.sleep(0.001)
            data = self.emulator.read()
        return data

    def _can_wait(self) -> bool:
        return bool(getattr(self.emulator, "realtime", False))

    def _raw_close(self) -> None:
        close = getattr(self.emulator, "close_connection", None)
        if close is not None:
            close()


# --------------------------------------------------------------------------------------
# sim:// registry: the bench fills it, so core never imports the simulators.
_SIMS: dict[str, Callable[[], object] | object] = {}
_SIMS_LOCK = threading.Lock()


def register_sim(name: str, emulator) -> None:
    """Make ``sim://name`` reach ``emulator`` (an object, or a zero-argument factory)."""
    with _SIMS_LOCK:
        _SIMS[name] = emulator


def unregister_sim(name: str) -> None:
    with _SIMS_LOCK:
        _SIMS.pop(name, None)


def sim_registry() -> dict:
    with _SIMS_LOCK:
        return dict(_SIMS)


_SERIAL_OPTION_TYPES = {
    "baudrate": int,
    "bytesize": int,
    "parity": str,
    "stopbits": float,
    "xonxoff": lambda v: v.lower() in ("1", "true", "yes"),
    "rtscts": lambda v: v.lower() in ("1", "true", "yes"),
    "dsrdtr": lambda v: v.lower() in ("1", "true", "yes"),
}


def open_transport(
    address: str,
    *,
    timeout: float = 1.0,
    log: bool | TrafficLog = False,
    sims: dict | None = None,
    **options,
) -> Transport:
    """Open the transport named by ``address`` (see the module docstring).

    ``options`` go to the library: serial settings (``baudrate``...) for serial
    addresses, ``backend`` for VISA.  Query parameters in the address do the same.
    ``sims`` overrides the process-wide ``sim://`` registry (a bench passes its own).
    """
    if not isinstance(address, str) or "://" not in address:
        raise ConfigError(
            f"transport address {address!r} has no scheme; use serial://, socket://, "
            "rfc2217://, loop://, visa:// or sim://"
        )
    scheme, _, rest = address.partition("://")
    scheme = scheme.lower()
    kw = {"timeout": timeout, "log": log}
    if scheme == "sim":
        name = rest.strip("/")
        registry = sims if sims is not None else sim_registry()
        if name not in registry:
            known = ", ".join(sorted(registry)) or "none"
            raise ConfigError(f"no simulator named {name!r} for {address} (known: {known})")
        emulator = registry[name]
        if callable(emulator) and not hasattr(emulator, "write"):
            emulator = emulator()
        return SimTransport(address, emulator, **kw)
    if scheme == "visa":
        resource, _, query = rest.partition("?")
        params = dict(parse_qsl(query))
        backend = options.pop("backend", params.pop("backend", "@py"))
        return VisaTransport(address, resource, backend=backend, **kw)
    if scheme == "serial":
        parts = urlsplit(address)
        port = parts.path or parts.netloc
        if parts.netloc and parts.path:
            port = parts.netloc + parts.path
        params = dict(parse_qsl(parts.query))
        serial_options = {}
        for key, value in {**params, **options}.items():
            if key not in _SERIAL_OPTION_TYPES:
                raise ConfigError(f"unknown serial option {key!r} in {address}")
            conv = _SERIAL_OPTION_TYPES[key]
            serial_options[key] = conv(value) if isinstance(value, str) else value
        return SerialTransport(address, port, serial_options, **kw)
    if scheme in ("socket", "rfc2217", "loop", "spy", "hwgrep", "alt"):
        serial_options = {k: v for k, v in options.items() if k in _SERIAL_OPTION_TYPES}
        unknown = set(options) - set(serial_options)
        if unknown:
            raise ConfigError(f"unknown transport options {sorted(unknown)} for {address}")
        return SerialTransport(address, address, serial_options, **kw)
    raise ConfigError(f"unknown transport scheme {scheme!r} in {address}")
