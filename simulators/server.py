"""Serve emulators on loopback TCP, so real pyserial and pyvisa clients reach them.

Each emulator listens on its own port.  Serial instruments are then reachable as
``socket://127.0.0.1:PORT`` (pyserial's URL handler), SCPI instruments as the VISA
resource ``TCPIP0::127.0.0.1::PORT::SOCKET`` and, on a second port, through HiSLIP as
``TCPIP0::127.0.0.1::hislip0,PORT::INSTR`` (:mod:`labctl.simulators.hislip`): a
message-based resource whose END marks each message, as USBTMC does for a USB
instrument, so a script written for the USB unit runs with only its resource string
changed.  One thread multiplexes every socket: bytes from a client go to
``emulator.write``; whatever the emulator has to say (replies, streamed lines) is sent
back as soon as it exists.

With ``traffic_log`` every emulator's traffic is appended to that file, one JSON line
per chunk: ``{"t": <bench-clock s>, "device": name, "dir": "in"|"out", "data": text}``
(``data`` decoded as Latin-1, so every byte maps to one character).
"""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import threading
from pathlib import Path

from labctl.simulators.hislip import HislipConnection, HislipSessions

__all__ = ["EmulatorServer"]

_POLL_S = 0.005  # how often streaming output is looked for when no bytes arrive


class EmulatorServer:
    """Run ``{name: (emulator, wire)}`` on loopback ports; ``wire`` is "serial"/"scpi".

    ``traffic_log``: a file to append every emulator's traffic to (see the module
    docstring); ``None`` logs nothing.
    """

    def __init__(
        self,
        emulators: dict[str, tuple[object, str]],
        host: str = "127.0.0.1",
        traffic_log: str | Path | None = None,
    ):
        self.host = host
        self._sel = selectors.DefaultSelector()
        self._listeners: dict[str, socket.socket] = {}
        self._hislip_listeners: dict[str, socket.socket] = {}
        self._emulators = {}
        self._wires = {}
        self._clients: dict[socket.socket, str] = {}
        self._hislip: dict[socket.socket, HislipConnection] = {}
        self._sessions = HislipSessions()
        self._log = open(traffic_log, "a", encoding="utf-8") if traffic_log else None  # noqa: SIM115
        for name, (emulator, wire) in emulators.items():
            self._emulators[name] = emulator
            self._wires[name] = wire
            self._listeners[name] = self._listen(name, "listen")
            if wire == "scpi":
                self._hislip_listeners[name] = self._listen(name, "listen-hislip")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _listen(self, name: str, role: str) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        sock.listen(4)
        sock.setblocking(False)
        self._sel.register(sock, selectors.EVENT_READ, (role, name))
        return sock

    def addresses(self) -> dict[str, str]:
        """Device name -> address a client should use (raw socket for SCPI)."""
        out = {}
        for name, sock in self._listeners.items():
            port = sock.getsockname()[1]
            if self._wires[name] == "scpi":
                out[name] = f"TCPIP0::{self.host}::{port}::SOCKET"
            else:
                out[name] = f"socket://{self.host}:{port}"
        return out

    def hislip_addresses(self) -> dict[str, str]:
        """SCPI device name -> HiSLIP VISA resource string (pyvisa-py syntax)."""
        return {
            name: f"TCPIP0::{self.host}::hislip0,{sock.getsockname()[1]}::INSTR"
            for name, sock in self._hislip_listeners.items()
        }

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(
            target=self.serve_forever, name="labctl-sim-serve", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        try:
            while not self._stop.is_set():
                for key, _ in self._sel.select(timeout=_POLL_S):
                    role, name = key.data
                    if role.startswith("listen"):
                        self._accept(key.fileobj, name, hislip=role == "listen-hislip")
                    else:
                        self._receive(key.fileobj, name)
                self._flush_all()
        finally:
            self._close_all()

    def _accept(self, listener: socket.socket, name: str, hislip: bool = False) -> None:
        conn, _ = listener.accept()
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sel.register(conn, selectors.EVENT_READ, ("client", name))
        self._clients[conn] = name
        if hislip:
            emulator = self._emulators[name]
            scpi = getattr(emulator, "scpi", None)
            self._hislip[conn] = HislipConnection(
                self._sessions,
                deliver=lambda data, n=name: self._deliver(n, data),
                status=(lambda: scpi.status_byte()) if scpi is not None else (lambda: 0),
                clear=getattr(emulator, "close_connection", lambda: None),
            )

    def _deliver(self, name: str, data: bytes) -> bytes:
        """A complete message to the emulator; returns its immediate output."""
        self._record(name, "in", data)
        emulator = self._emulators[name]
        emulator.write(data)
        out = emulator.read()
        self._record(name, "out", out)
        return out

    def _record(self, name: str, direction: str, data: bytes) -> None:
        if self._log is None or not data:
            return
        now = getattr(self._emulators[name], "now", lambda: 0.0)()
        line = {"t": now, "device": name, "dir": direction, "data": data.decode("latin-1")}
        self._log.write(json.dumps(line) + "\n")
        self._log.flush()

    def _receive(self, conn: socket.socket, name: str) -> None:
        try:
            data = conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        session = self._hislip.get(conn)
        if session is not None:
            self._send(conn, session.feed(data))
            if session.closed:
                self._drop(conn)
            return
        self._record(name, "in", data)
        self._emulators[name].write(data)
        self._flush(conn, name)

    def _send(self, conn: socket.socket, data: bytes) -> None:
        if not data:
            return
        try:
            conn.sendall(data)
        except OSError:
            self._drop(conn)

    def _flush(self, conn: socket.socket, name: str) -> None:
        out = self._emulators[name].read()
        if not out:
            return
        self._record(name, "out", out)
        session = self._hislip.get(conn)
        if session is not None:
            if session.role == "sync":
                self._send(conn, session.reply(out))
            return
        self._send(conn, out)

    def _flush_all(self) -> None:
        for conn, name in list(self._clients.items()):
            session = self._hislip.get(conn)
            if session is None or session.role == "sync":
                self._flush(conn, name)

    def _drop(self, conn: socket.socket) -> None:
        name = self._clients.pop(conn, None)
        self._hislip.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(conn)
        conn.close()
        if name is not None and name not in self._clients.values():
            close = getattr(self._emulators[name], "close_connection", None)
            if close is not None:
                close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def _close_all(self) -> None:
        for conn in list(self._clients):
            self._drop(conn)
        for sock in (*self._listeners.values(), *self._hislip_listeners.values()):
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(sock)
            sock.close()
        self._sel.close()
        if self._log is not None:
            self._log.close()
