"""Child processes for the scale-out services: spawn, wait until ready, stop.

Each service runs in a session (process group) of its own with its output in a log file
of mode 0600 (Tiled prints its API key there); :meth:`Service.stop` ends the whole group,
which reaches children such as the RE Manager's worker.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from labctl.core.errors import ConfigError, LabctlError

__all__ = [
    "HOST",
    "Service",
    "ServiceError",
    "free_port",
    "secret_file",
    "program",
    "spawn",
    "wait_until",
    "port_open",
]

HOST = "127.0.0.1"


class ServiceError(LabctlError):
    """A service did not start (its log tail is in the message)."""


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def secret_file(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def program(name: str, hint: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        raise ConfigError(f"{name} not found: {hint}")
    return found


@dataclass
class Service:
    """A child process with its log file; :meth:`stop` ends it (TERM, then KILL)."""

    name: str
    process: subprocess.Popen
    log_path: Path
    address: str = ""
    info: dict = field(default_factory=dict)
    _log: IO | None = None

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def fail(self, what: str) -> ServiceError:
        self.stop()
        return ServiceError(f"{self.name}: {what}; log {self.log_path}:\n{self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """End the service's process group (it runs in a session of its own, so this
        reaches the RE Manager's worker and any other child it started)."""
        if self.alive():
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(timeout)
        self._signal(signal.SIGKILL)  # children that outlived the leader
        if self._log is not None and not self._log.closed:
            self._log.close()


def spawn(name: str, argv: list[str], workdir: Path, env: dict | None = None) -> Service:
    log_path = workdir / f"{name}.log"
    # 0600: Tiled prints its API key at start-up
    log = os.fdopen(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
    full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=workdir,
        env=full_env,
        start_new_session=True,
    )
    return Service(name, proc, log_path, _log=log)


def wait_until(service: Service, ready, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not service.alive():
            raise service.fail(f"exited with code {service.process.returncode}")
        if ready():
            return
        time.sleep(0.1)
    raise service.fail(f"not {what} within {timeout:g} s")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False
