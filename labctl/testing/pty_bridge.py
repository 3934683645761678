"""A pseudo-terminal whose far end is an emulator or a TCP socket.

For clients that can only open a serial port by its device path (a vendor's own
library, for instance)::

    with PtyBridge(emulator.write, emulator.read) as port:   # in-process emulator
        client = VendorClient(port)
    with socket_pty("socket://127.0.0.1:5020") as port:      # labctl sim serve
        client = VendorClient(port)

Bytes the client writes to ``port`` go to ``send(data)``; what ``receive()`` returns
is written back.  POSIX only (``os.openpty``).
"""

from __future__ import annotations

import os
import select
import socket
import threading
import tty
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

__all__ = ["PtyBridge", "socket_pty"]


class PtyBridge:
    """Serve a pty pair from a thread; ``receive`` is asked every ``poll_s`` s."""

    def __init__(
        self, send: Callable[[bytes], object], receive: Callable[[], bytes], poll_s: float = 0.002
    ) -> None:
        self.send = send
        self.receive = receive
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> str:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self._thread = threading.Thread(target=self._run, daemon=True, name="pty-bridge")
        self._thread.start()
        return os.ttyname(self.slave)

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], self.poll_s)
            try:
                if ready and (data := os.read(self.master, 4096)):
                    self.send(data)
                if out := self.receive():
                    os.write(self.master, out)
            except OSError:
                return

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        os.close(self.slave)
        os.close(self.master)


@contextmanager
def socket_pty(address: str, timeout_s: float = 5.0) -> Iterator[str]:
    """A pty path bridged to ``socket://host:port`` (as ``labctl sim serve`` prints)."""
    parts = urlsplit(address)
    if parts.scheme != "socket" or parts.hostname is None or parts.port is None:
        raise ValueError(f"{address!r} is not a socket://host:port address")
    conn = socket.create_connection((parts.hostname, parts.port), timeout=timeout_s)
    conn.setblocking(False)

    def receive() -> bytes:
        try:
            return conn.recv(65536)
        except BlockingIOError:
            return b""

    try:
        with PtyBridge(conn.sendall, receive) as port:
            yield port
    finally:
        conn.close()
