"""Serve emulators on loopback TCP, so real pyserial and pyvisa clients reach them.

Each emulator listens on its own port.  Serial instruments are then reachable as
``socket://127.0.0.1:PORT`` (pyserial's URL handler), SCPI instruments as the VISA
resource ``TCPIP0::127.0.0.1::PORT::SOCKET``.  One thread multiplexes every socket:
bytes from a client go to ``emulator.write``; whatever the emulator has to say
(replies, streamed lines) is sent back as soon as it exists.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading

__all__ = ["EmulatorServer"]

_POLL_S = 0.005  # how often streaming output is looked for when no bytes arrive


class EmulatorServer:
    """Run ``{name: (emulator, wire)}`` on loopback ports; ``wire`` is "serial"/"scpi"."""

    def __init__(self, emulators: dict[str, tuple[object, str]], host: str = "127.0.0.1"):
        self.host = host
        self._sel = selectors.DefaultSelector()
        self._listeners: dict[str, socket.socket] = {}
        self._emulators = {}
        self._wires = {}
        self._clients: dict[socket.socket, str] = {}
        for name, (emulator, wire) in emulators.items():
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, 0))
            sock.listen(4)
            sock.setblocking(False)
            self._sel.register(sock, selectors.EVENT_READ, ("listen", name))
            self._listeners[name] = sock
            self._emulators[name] = emulator
            self._wires[name] = wire
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def addresses(self) -> dict[str, str]:
        """Device name -> address a client should use."""
        out = {}
        for name, sock in self._listeners.items():
            port = sock.getsockname()[1]
            if self._wires[name] == "scpi":
                out[name] = f"TCPIP0::{self.host}::{port}::SOCKET"
            else:
                out[name] = f"socket://{self.host}:{port}"
        return out

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
                    if role == "listen":
                        self._accept(key.fileobj, name)
                    else:
                        self._receive(key.fileobj, name)
                self._flush_all()
        finally:
            self._close_all()

    def _accept(self, listener: socket.socket, name: str) -> None:
        conn, _ = listener.accept()
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sel.register(conn, selectors.EVENT_READ, ("client", name))
        self._clients[conn] = name

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
        self._emulators[name].write(data)
        self._flush(conn, name)

    def _flush(self, conn: socket.socket, name: str) -> None:
        out = self._emulators[name].read()
        if out:
            try:
                conn.sendall(out)
            except OSError:
                self._drop(conn)

    def _flush_all(self) -> None:
        for conn, name in list(self._clients.items()):
            self._flush(conn, name)

    def _drop(self, conn: socket.socket) -> None:
        name = self._clients.pop(conn, None)
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
        for sock in self._listeners.values():
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(sock)
            sock.close()
        self._sel.close()
