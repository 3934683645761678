"""Crash and restart: a bench process killed mid-run leaves the coil on and a store that
can be recovered; the next bench switches every output off before anything else."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import serial
import yaml

from labctl.bench import Bench
from labctl.config.bench_file import load_bench_config

ROOT = Path(__file__).resolve().parent.parent
MOUSE = ROOT / "examples" / "benches" / "sim-mouse.yaml"

CHILD = textwrap.dedent("""
    import sys
    from labctl.bench import Bench
    from labctl.plans import magnetic_hyperthermia

    bench = Bench.from_file(sys.argv[1])
    for message in bench.messages:
        print("MSG", message, flush=True)

    def tell(name, doc):
        if name == "event":
            print("EVENT", doc["seq_num"], flush=True)

    bench.RE.subscribe(tell)
    bench.RE(magnetic_hyperthermia(bench.amf, bench.thermo, target=39, hold=600,
                                   frequency=230e3, max_field=12, period=0.2, ramp_rate=None))
""")


def test_sim_bench_switches_energizers_off_before_talking_to_anything_else(tmp_path):
    bench = Bench.from_file(MOUSE, data_dir=tmp_path)
    try:
        first = {name: t.log.records[0] for name, t in bench.transports.items()}
        assert first["amf"].data == b"1,hoff\r"
        assert first["laser"].data == b"OUTP:STAT OFF\n"
        assert max(first["amf"].time, first["laser"].time) <= first["thermo"].time
        assert bench.messages[:2] == [
            "bench sim-mouse: amf output set off at start-up",
            "bench sim-mouse: laser output set off at start-up",
        ]
    finally:
        bench.close()


@pytest.fixture
def served(tmp_path):
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
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 60
    while not ports.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"sim serve did not start: {out}\n{err}")
        time.sleep(0.05)
    yield json.loads(ports.read_text())
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=10)


def amf_heating(address: str) -> bool:
    port = serial.serial_for_url(address, timeout=2)
    try:
        port.write(b"1,RDATA\r")  # <CR><LF>address,heat,...<CR><LF>
        port.read_until(b"\r\n")
        return port.read_until(b"\r\n").split(b",")[1] == b"1"
    finally:
        port.close()


@pytest.mark.subprocess
def test_sigkill_mid_run_then_restart(served, tmp_path):
    recover = pytest.importorskip("labctl.data").recover
    from labctl.data import read_run

    data = yaml.safe_load(MOUSE.read_text())
    data["mode"] = "real"
    data["data_dir"] = str(tmp_path / "data")
    data["devices"] = {name: data["devices"][name] for name in served}  # no cameras
    for name, address in served.items():
        if address.startswith("TCPIP0::"):
            address = "visa://" + address
        data["devices"][name]["address"] = address
    bench_file = tmp_path / "real-bench.yaml"
    bench_file.write_text(yaml.safe_dump(data))
    load_bench_config(bench_file)  # a valid real bench file
    script = tmp_path / "child.py"
    script.write_text(CHILD)

    child = subprocess.Popen(
        [sys.executable, str(script), str(bench_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    events, messages = [], []
    deadline = time.monotonic() + 90
    try:
        while len(events) < 12:  # baseline + a few control steps with the field on
            line = child.stdout.readline()
            if not line:
                pytest.fail(f"the bench process ended early: {child.stderr.read()}")
            if line.startswith("EVENT"):
                events.append(int(line.split()[1]))
            elif line.startswith("MSG"):
                messages.append(line[4:].strip())
            assert time.monotonic() < deadline, "no events from the bench process"
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=10)
    assert "bench sim-mouse: amf output set off at start-up" in messages
    assert amf_heating(served["amf"])  # the crash left the coil energized

    bench = Bench.from_file(bench_file)  # restart: outputs off before anything else
    try:
        assert bench.messages[0] == "bench sim-mouse: amf output set off at start-up"
        assert not bench.drivers["amf"].read_status_line().heating
        assert not bench.drivers["laser"].get_emission()
    finally:
        bench.close()

    (store,) = (tmp_path / "data").glob("*/*.zarr")
    report = recover(store)
    run = read_run(store)
    assert run.stop is not None and run.stop["exit_status"] == report.stop["exit_status"]
    emitted_primary = len(events) - 1  # the first event is the baseline reading
    assert report.rows.get("primary", 0) >= emitted_primary
    assert run.stream("primary").sizes["time"] >= emitted_primary
