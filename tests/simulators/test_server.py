"""`labctl sim serve` in its own process, reached by real pyserial and pyvisa clients."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pyvisa
import serial

from labctl.core.transport import open_transport

ROOT = Path(__file__).resolve().parents[2]
MOUSE = ROOT / "examples" / "benches" / "sim-mouse.yaml"

pytestmark = pytest.mark.subprocess


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    ports = tmp_path_factory.mktemp("serve") / "ports.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "labctl",
            "sim",
            "serve",
            "--bench",
            str(MOUSE),
            "--ports-file",
            str(ports),
            "--speed",
            "10",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 60
    while not ports.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"sim serve did not start: {out}\n{err}")
        time.sleep(0.05)
    addresses = json.loads(ports.read_text())
    yield proc, addresses
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=10)


def test_ports_file_maps_devices_to_addresses(served):
    _, addresses = served
    assert set(addresses) == {"thermo", "amf", "laser"}
    assert addresses["thermo"].startswith("socket://127.0.0.1:")
    assert addresses["amf"].startswith("socket://127.0.0.1:")
    assert addresses["laser"].startswith("TCPIP0::127.0.0.1::")
    assert addresses["laser"].endswith("::SOCKET")


def test_plain_pyserial_reads_four_channels_and_prompt(served):
    _, addresses = served
    port = serial.serial_for_url(addresses["thermo"], timeout=2)
    try:
        port.write(b"t\r")
        lines = [port.read_until(b"\r") for _ in range(4)]
        prompt = port.read(1)
    finally:
        port.close()
    temps = [float(line.strip()) for line in lines]
    assert 30.0 < temps[0] < 40.0  # tumor
    assert 30.0 < temps[1] < 40.0  # rectal
    assert 15.0 < temps[3] < 30.0  # room reference
    assert prompt == b"*"


def test_plain_pyvisa_identity_and_error_queue(served):
    _, addresses = served
    rm = pyvisa.ResourceManager("@py")
    inst = rm.open_resource(
        addresses["laser"], read_termination="\n", write_termination="\n", timeout=2000
    )
    try:
        idn = inst.query("*IDN?")
        err = inst.query("SYST:ERR?")
    finally:
        inst.close()
    assert idn.startswith("Thorlabs,ITC4001,")
    assert err == '+0,"No error"'


def test_labctl_drivers_over_tcp(served):
    from labctl.devices.drivers.ambrell_easyheat import AmbrellEasyHeat
    from labctl.devices.drivers.neoptix_reflex import NeoptixReflex
    from labctl.devices.drivers.thorlabs_itc4000 import ThorlabsITC4000

    _, addresses = served
    with open_transport(addresses["thermo"], timeout=2) as t:
        temps = NeoptixReflex(t, channels=4).read_all()
        assert len(temps) == 4 and all(v is not None for v in temps)
    with open_transport(addresses["amf"], timeout=2) as t:
        status = AmbrellEasyHeat(t, unit_address=1).status()
        assert status.heating is False
        assert status.frequency_Hz in (230e3, 354e3)
    with open_transport("visa://" + addresses["laser"], timeout=2) as t:
        laser = ThorlabsITC4000(t)
        assert laser.identify()["model"] == "ITC4001"


def test_stops_cleanly_on_sigterm(tmp_path):
    ports = tmp_path / "ports.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "labctl",
            "sim",
            "serve",
            "--bench",
            str(MOUSE),
            "--ports-file",
            str(ports),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 60
    while not ports.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert ports.exists()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert json.loads(out)["thermo"].startswith("socket://")
    assert "stopped" in err
