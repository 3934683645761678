"""SIGTERM and SIGHUP end a run with the outputs off: ``labctl sim serve`` in one process,
``labctl run`` against its emulators in another, a real ``kill``, then the emulators are
asked over the wire whether the coil heats and the laser emits."""

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
import pyvisa
import serial
import yaml

from labctl.data import read_run
from labctl.safety.signals import SignalGuard, Terminated, abort_run, signal_reason

ROOT = Path(__file__).resolve().parents[2]
MOUSE = ROOT / "examples" / "benches" / "sim-mouse.yaml"
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}

PROTOCOLS = {
    "magnetic_hyperthermia": {
        "target": 39.0,
        "hold": 600.0,
        "frequency": 230000.0,
        "max_field": 12.0,
        "period": 0.2,
        "ramp_rate": None,
    },
    "photothermal_therapy": {
        "target": 40.0,
        "duration": 600.0,
        "max_irradiance": 1.0,
        "period": 0.2,
        "ramp_rate": None,
    },
}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    ports = tmp_path_factory.mktemp("serve") / "ports.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "labctl", "sim", "serve", "--bench", str(MOUSE)]
        + ["--ports-file", str(ports)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
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
        port.write(b"1,RDATA\r")  # reply framed <CR><LF>payload<CR><LF>, as ISIS reads it
        line = port.read_until(b"\r\n").strip() or port.read_until(b"\r\n").strip()
        return line.split(b",")[1] == b"1"
    finally:
        port.close()


def laser_emitting(address: str) -> bool:
    rm = pyvisa.ResourceManager("@py")
    inst = rm.open_resource(address, read_termination="\n", write_termination="\n", timeout=2000)
    try:
        return inst.query("OUTP:STAT?").strip() in ("1", "ON")
    finally:
        inst.close()


def energized(plan: str, served: dict) -> bool:
    if plan == "magnetic_hyperthermia":
        return amf_heating(served["amf"])
    return laser_emitting(served["laser"])


def real_bench_file(served: dict, tmp_path: Path) -> Path:
    """The mouse bench in ``mode: real``, its devices at the served addresses."""
    data = yaml.safe_load(MOUSE.read_text())
    data["mode"] = "real"
    data["data_dir"] = str(tmp_path / "data")
    data["devices"] = {name: data["devices"][name] for name in served}  # no cameras
    for name, address in served.items():
        data["devices"][name]["address"] = (
            "visa://" + address if address.startswith("TCPIP0::") else address
        )
    path = tmp_path / "real-bench.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.subprocess
@pytest.mark.parametrize("plan", sorted(PROTOCOLS))
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_signal_during_heating_switches_outputs_off(served, tmp_path, plan, signame):
    bench = real_bench_file(served, tmp_path)
    protocol = tmp_path / "protocol.yaml"
    protocol.write_text(
        yaml.safe_dump(
            {
                "protocol": f"{plan}-signal",
                "bench": str(bench),
                "steps": [{"plan": plan, "args": PROTOCOLS[plan]}],
            }
        )
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "labctl", "run", str(protocol), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        deadline = time.monotonic() + 90
        while not energized(plan, served):
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "the run never energized"
            time.sleep(0.2)
        time.sleep(3.0)  # a few control steps with energy flowing
        run.send_signal(getattr(signal, signame))
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert not amf_heating(served["amf"])
    assert not laser_emitting(served["laser"])
    assert run.returncode == 128 + getattr(signal, signame), err
    assert err.strip().splitlines()[-1].startswith(f"labctl: stopped by {signame}")
    (store,) = (tmp_path / "data").glob("*/*.zarr")
    result = read_run(store)
    assert result.stop["exit_status"] == "abort"
    assert result.stop["reason"] == signal_reason(getattr(signal, signame))
    rows = result.stream("primary").sizes["time"]
    assert rows >= 3  # events written up to the signal, none lost
    assert result.stop["num_events"]["primary"] == rows
    assert f"run {result.start['uid']} ({plan}): abort" in out


CHILD = textwrap.dedent("""
    import sys, time
    from labctl.safety.signals import SignalGuard, Terminated

    offs = []
    guard = SignalGuard(lambda: offs.append("off"), then=lambda: offs.append("then"))
    try:
        with guard:
            print("READY", flush=True)
            time.sleep(60)
    except Terminated as exc:
        print("TERMINATED", exc.signum, offs, exc.exit_code, flush=True)
        sys.exit(exc.exit_code)
    finally:
        print("FINALLY", flush=True)
""")


@pytest.mark.subprocess
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_guard_outside_a_run_raises_after_switching_off(tmp_path, signame):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=ENV
    )
    assert child.stdout.readline().strip() == "READY"
    child.send_signal(getattr(signal, signame))
    out, _ = child.communicate(timeout=30)
    signum = int(getattr(signal, signame))
    assert f"TERMINATED {signum} ['off', 'then'] {128 + signum}" in out
    assert "FINALLY" in out
    assert child.returncode == 128 + signum


BENCH_CHILD = textwrap.dedent("""
    import sys
    from labctl.bench import Bench
    from labctl.plans import magnetic_hyperthermia

    Bench.handle_signals = sys.argv[3] == "1"
    with Bench.from_file(sys.argv[1], mode="sim", clock="realtime", speed=20,
                         data_dir=sys.argv[2]) as bench:
        def tell(name, doc):
            if name == "event" and doc["seq_num"] == 5:
                print("HEATING", flush=True)
        bench.RE.subscribe(tell)
        bench.RE(magnetic_hyperthermia(bench.amf, bench.thermo, target=39, hold=600,
                                       frequency=230e3, max_field=12, period=0.2,
                                       ramp_rate=None))
""")


@pytest.mark.subprocess
def test_bench_context_manager_aborts_the_run_on_sigterm(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(BENCH_CHILD)
    child = subprocess.Popen(
        [sys.executable, str(script), str(MOUSE), str(tmp_path / "data"), "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    while "HEATING" not in (line := child.stdout.readline()):
        assert line, child.communicate()
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 1, err  # Terminated is a KeyboardInterrupt: a traceback, exit 1
    assert "Terminated" in err
    (store,) = (tmp_path / "data").glob("*/*.zarr")
    stop = read_run(store).stop
    assert stop["exit_status"] == "abort", err
    assert stop["reason"] == signal_reason(signal.SIGTERM)


@pytest.mark.subprocess
def test_bench_opt_out_leaves_signals_to_the_embedder(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(BENCH_CHILD)
    child = subprocess.Popen(
        [sys.executable, str(script), str(MOUSE), str(tmp_path / "data"), "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    while "HEATING" not in (line := child.stdout.readline()):
        assert line, child.communicate()
    child.send_signal(signal.SIGTERM)
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGTERM  # Python's default action: no handler


def test_guard_restores_previous_handlers_and_reports_nothing_without_a_signal():
    before = signal.getsignal(signal.SIGTERM)
    with SignalGuard() as guard:
        assert signal.getsignal(signal.SIGTERM) == guard._handle
    assert signal.getsignal(signal.SIGTERM) == before
    assert guard.reason is None


def test_abort_run_of_an_idle_run_engine_does_nothing():
    from bluesky import RunEngine

    assert not abort_run(RunEngine({}), "why")
    assert not abort_run(None, "why")


def test_terminated_is_a_keyboard_interrupt_with_the_shell_exit_code():
    exc = Terminated(signal.SIGHUP, "r")
    assert isinstance(exc, KeyboardInterrupt)
    assert exc.exit_code == 129
