"""A pseudo-terminal whose far end is an emulator: for clients that open a serial port.

``with PtyBridge(send, receive) as path:`` gives a ``/dev/pts/N`` path; bytes a client
writes there go to ``send(data)``, and whatever ``receive()`` returns is written back.
"""

from __future__ import annotations

import os
import select
import threading
import tty


class PtyBridge:
    """Serve a pty pair from a thread (``poll_s``: how often ``receive`` is asked)."""

    def __init__(self, send, receive, poll_s: float = 0.002) -> None:
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
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    return
                if data:
                    self.send(data)
            out = self.receive()
            if out:
                os.write(self.master, out)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        os.close(self.slave)
        os.close(self.master)
