"""`labctl sim serve` of the coil + OSENSA + CNI bench, reached by plain clients:
a socket client for the supply, raw bytes for the laser, OSENSA's ``osensapy`` through
a pty for the thermometer."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labctl.core.transport import open_transport
from labctl.testing.pty_bridge import socket_pty

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "examples" / "benches" / "sim-coil-osensa.yaml"
SPEED = 10.0  #: virtual s per wall s

pytestmark = pytest.mark.subprocess


@pytest.fixture(scope="module")
def served(osensa_plugin, tmp_path_factory):
    ports = tmp_path_factory.mktemp("serve") / "ports.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "labctl", "sim", "serve", "--bench", str(BENCH),
         "--ports-file", str(ports), "--speed", str(SPEED)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not ports.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"sim serve did not start: {out}\n{err}")
        time.sleep(0.05)
    yield json.loads(ports.read_text())
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=10)


def _host_port(address: str) -> tuple[str, int]:
    if address.startswith("TCPIP0::"):
        _, host, port, _ = address.split("::")
    else:
        host, port = address.removeprefix("socket://").split(":")
    return host, int(port)


def test_ports(served):
    assert set(served) == {"thermo", "amf", "laser"}
    assert served["amf"].startswith("TCPIP0::127.0.0.1::") and served["amf"].endswith("::SOCKET")
    assert served["thermo"].startswith("socket://") and served["laser"].startswith("socket://")


def test_plain_socket_client_drives_the_supply(served):
    conn = socket.create_connection(_host_port(served["amf"]), timeout=5)
    stream = conn.makefile("rwb")

    def ask(command: bytes) -> bytes:
        stream.write(command + b"\n")
        stream.flush()
        return stream.readline()

    try:
        identity = ask(b"*IDN?")
        for command in (b"V1 12", b"I1 5", b"OP1 1"):
            stream.write(command + b"\n")
        voltage, current = ask(b"V1O?"), ask(b"I1O?")
        stream.write(b"OP1 0\n")
        stream.flush()
        off = ask(b"I1O?")
    finally:
        conn.close()
    assert identity.startswith(b"THURLBY THANDAR, CPX400DP, ") and identity.endswith(b"\r\n")
    # 12 V into the simulated 2.5 ohm load: 4.8 A, under the 5 A limit (constant voltage)
    assert (voltage, current, off) == (b"12.00V\r\n", b"4.800A\r\n", b"0.000A\r\n")


def test_raw_frames_switch_the_laser_on_at_that_power(served):
    power = bytes.fromhex("55 aa 05 03 05 dc e9")  # 1500 mW
    laser = socket.create_connection(_host_port(served["laser"]), timeout=5)
    thermo = open_transport(served["thermo"], timeout=2.0)
    from labctl_osensa import OsensaFTX  # installed by the osensa_plugin fixture

    ftx = OsensaFTX(thermo)
    try:
        before = ftx.read_block(1).temperature_C
        laser.sendall(bytes.fromhex("55 aa 03 01 04"))
        assert _read(laser, 5) == bytes.fromhex("55 aa 03 01 04")
        time.sleep(0.02)  # the controller's 10 ms before a power command takes effect
        laser.sendall(power)
        assert _read(laser, 7) == power
        time.sleep(60.0 / SPEED)  # one virtual minute of 1.5 W on the tumor
        after = ftx.read_block(1).temperature_C
        laser.sendall(bytes.fromhex("55 aa 03 00 03"))
        assert _read(laser, 5) == bytes.fromhex("55 aa 03 00 03")
    finally:
        laser.close()
        thermo.close()
    assert after > before + 1.0


def _read(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def test_osensapy_reads_the_served_transmitter(served):
    from osensapy.osensapy import Transmitter

    with socket_pty(served["thermo"]) as port:
        tx = Transmitter(port, 40, timeout=2.0)
        try:
            serial_number = tx.read_serial_number()
            fast = tx.fast_batch(3)
            full = tx.read_channel_temp("B")
        finally:
            tx.close()
    assert serial_number == 21040001
    assert [status for _, _, status in fast] == [0, 0, 0]
    # rectal probe of a mouse at rest: 37 C within the probe's noise and 0.1 C steps
    assert fast[1][1] == pytest.approx(37.0, abs=0.3)
    assert full == pytest.approx(37.0, abs=0.3)
