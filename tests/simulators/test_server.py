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


def _serve(ports: Path, *options: str):
    """``labctl sim serve`` on the mouse bench; yields (process, addresses)."""
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
            *options,
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


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    yield from _serve(tmp_path_factory.mktemp("serve") / "ports.json")


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


# -- real clients' call sequences, replayed against the twin ------------------------------
@pytest.fixture(scope="module")
def served_hislip(tmp_path_factory):
    """sim serve listing the laser's HiSLIP resource, logging all traffic."""
    where = tmp_path_factory.mktemp("serve-hislip")
    log = where / "traffic.jsonl"
    for proc, addresses in _serve(
        where / "ports.json", "--visa", "hislip", "--traffic-log", str(log)
    ):
        yield proc, addresses, log


def _payload(port) -> bytes:
    """Read as the ISIS IOC's protocol file does: ``in "";`` then the payload line."""
    assert port.read_until(b"\r\n") == b"\r\n"
    line = port.read_until(b"\r\n")
    assert line.endswith(b"\r\n"), line
    return line[:-2]


def test_isis_ioc_exchanges_with_the_easyheat(served):
    """ISIS EPICS IOC (StreamDevice): ``1,SYSID``, ``1,RDATA``, ``1,STAT``, read as its
    protocol file reads them; a client that sends nothing first may set ``1,amps,10``."""
    _, addresses = served
    port = serial.serial_for_url(addresses["amf"], timeout=2)
    try:
        port.write(b"1,SYSID\r")
        assert int(_payload(port)) > 0  # in "%d"
        port.write(b"1,amps,10\r")  # the manual's set command: no reply (model)
        port.write(b"1,RDATA\r")
        fields = _payload(port).decode().split(",")
        port.write(b"1,STAT\r")
        stat = [float(v) for v in _payload(port).decode().split(",")]  # in "%f,%f,%f,%f,%f"
        port.write(b"1,maxamps\r")  # hBN setup client: int() of the reply
        maxamps = int(port.read_until(b"\r\n") + port.read_until(b"\r\n"))
    finally:
        port.close()
    # in "%d,%1d,%f,%f,%d,%d,%d,%d"
    address, heat, setpoint, tank, power, khz, down, up = fields
    assert (int(address), int(heat), float(setpoint)) == (1, 0, 10.0)
    assert float(tank) == 0.0 and int(power) == 0 and int(khz) in (230, 354)
    assert int(down) == 0 and int(up) >= 0
    assert len(stat) == 5 and stat[0] > 100.0
    assert maxamps > 10


def test_fob100_manual_examples_through_pyserial(served):
    """FOB100 manual 5.3: ``t``, ``t<i>`` on a disabled channel, ``i``, ``y``, ``f2 27.0``."""
    _, addresses = served
    port = serial.serial_for_url(addresses["thermo"], timeout=2)

    def ask(command: bytes) -> bytes:
        port.write(command + b"\r")
        return port.read_until(b"*")

    try:
        assert ask(b"e1 2 3 -4") == b"*"
        lines = ask(b"t").split(b"\r")
        single = ask(b"t4")
        info = ask(b"i").decode().split("\r")
        quality = ask(b"y").split(b"\r")
        assert ask(b"e") == b"*"  # scan all again
    finally:
        port.close()
    assert len(lines) == 5 and lines[3] == b"---.-" and lines[4] == b"*"
    assert all(float(v) > 15.0 for v in lines[:3])
    assert single == b"---.-\r*"
    assert info[0].startswith("Model:") and info[2] == "NB Channel: 4"
    assert info[11].split("\t")[0] == "Channel"
    assert info[15].split("\t")[:4] == ["4", "-100.0", "350.0", "No"]
    assert [q.split(b":")[0] for q in quality[:4]] == [b"CH1", b"CH2", b"CH3", b"CH4"]
    assert quality[0].endswith(b"CCD time: 50ms (fixed)")


def test_thorlabs_pyvisa_example_with_only_the_resource_string_changed(served_hislip):
    """Thorlabs' ITC40x PyVISA example, call for call: default ResourceManager, no
    termination settings; the resource is the twin's HiSLIP string."""
    _, addresses, _ = served_hislip
    resource = addresses["laser"]
    assert resource.startswith("TCPIP0::127.0.0.1::hislip0,") and resource.endswith("::INSTR")
    rm = pyvisa.ResourceManager()
    instr = rm.open_resource(resource)
    idn = instr.query("*IDN?")
    instr.write("source:current:level:amplitude 0.065")
    current = instr.query("source:current:level:amplitude?")
    instr.close()
    rm.close()
    assert idn.startswith("Thorlabs,ITC4001,")
    assert float(current) == pytest.approx(0.065)


def test_openwater_and_photonmover_settings_over_hislip(served_hislip):
    """The settings Openwater's ITC4001 script and photonmover's driver send, then
    ``MEAS:VOLT?``, ``*SAV 3``/``*RCL 3``: answered, and the error queue stays empty."""
    _, addresses, log = served_hislip
    rm = pyvisa.ResourceManager("@py")
    instr = rm.open_resource(addresses["laser"], timeout=2000)
    try:
        for command in (
            "SOUR2:FUNC TEMP",
            "SOUR2:TEMP 25",
            "OUTP2:STAT 1",
            "SOUR:FUNC:MODE CURR",
            "SOUR:FUNC:SHAP PULS",
            "TRIG:SOUR EXT",
            "SOUR:PULS:WIDT 0.0001",
            "SOUR:PULS:HOLD WIDT",
            "OUTP:PROT:EXT PROT",
            "SOUR:PULS:PER 0.033",
            "SOUR:CURR:LIM 0.16",
            "SOUR:CURR 0.15",
            "OUTP:DEL 0.5",
            "*SAV 3",
            "SOUR:PULS:PER 0.2",
            "TRIG:SOUR INT",
            "*RCL 3",
        ):
            instr.write(command)
        volts = float(instr.query("MEAS:VOLT?"))
        period = float(instr.query("SOUR:PULS:PER?"))
        trigger = instr.query("TRIG:SOUR?").strip()
        error = instr.query("SYST:ERR?").strip()
        instr.write("*RST")
        instr.write("OUTP2:STAT 0")
    finally:
        instr.close()
        rm.close()
    assert volts == 0.0  # LD off: no current
    assert period == pytest.approx(0.033) and trigger == "EXT"  # recalled
    assert error == '+0,"No error"'
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert {"t", "device", "dir", "data"} <= set(records[0])
    sent = [r["data"] for r in records if r["device"] == "laser" and r["dir"] == "in"]
    assert "*SAV 3\r\n" in sent and "MEAS:VOLT?\r\n" in sent
    times = [r["t"] for r in records]
    assert times == sorted(times)  # bench-clock times, in order


def test_thermal_control_sequence_through_pyserial(served):
    """drmittelstein's thermal_control (MATLAB, real ReFlex): ``query('i')`` must contain
    ``ReFlex``; ``query('t')`` takes the first line as the temperature, then flushes."""
    _, addresses = served
    port = serial.serial_for_url(addresses["thermo"], timeout=2)
    try:
        port.write(b"i\r")
        first = port.read_until(b"\r")
        port.read_until(b"*")
        port.write(b"t\r")
        reading = float(port.read_until(b"\r").strip())
        rest = port.read_until(b"*")
    finally:
        port.close()
    assert b"ReFlex" in first
    assert 20.0 < reading < 45.0  # above the script's 20 C validity threshold
    assert rest.endswith(b"*")
