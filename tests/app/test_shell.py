"""``labctl shell``: the namespace, the banner, and IPython driven as a person would
(piped standard input, and a real terminal under tmux)."""

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from labctl.app.shell import banner, build_namespace, make_bench

pytest.importorskip("IPython")

BENCHES = Path(__file__).resolve().parents[2] / "examples" / "benches"
VIAL = BENCHES / "sim-vial.yaml"


@pytest.fixture
def realtime_bench(tmp_path):
    bench = make_bench(VIAL, sim=True, speed=20, data_dir=tmp_path / "data")
    yield bench
    bench.close()


def test_the_shell_bench_runs_on_a_realtime_clock(realtime_bench):
    clock = realtime_bench.clock
    assert clock.kind == "sim-realtime" and clock.speed == 20
    t0 = clock.now()
    time.sleep(0.2)  # wall time passes; the simulated world follows (x20)
    assert clock.now() - t0 >= 2.0


def test_namespace_has_devices_re_plans_and_catalog(realtime_bench, capsys):
    ns = build_namespace(realtime_bench, plots=False)
    for name in (
        "bench",
        "RE",
        "bp",
        "bps",
        "catalog",
        "read_run",
        "report",
        "status",
        "thermo",
        "amf",
        "laser",
        "sar_measurement",
        "magnetic_hyperthermia",
    ):
        assert name in ns, name
    assert ns["thermo"] is realtime_bench.devices["thermo"]
    assert 15 < ns["thermo"].sample.get() < 40
    result = ns["RE"](ns["bp"].count([ns["thermo"]], 3))
    assert result.exit_status == "success"
    table = capsys.readouterr().out
    assert "thermo_sample" in table and "generator count" in table
    ns["catalog"].refresh()
    assert len(ns["catalog"]) == 1
    ns["status"]()
    out = capsys.readouterr().out
    assert "identity: manufacturer Thorlabs" in out and "channel 1 sample" in out


def test_banner_says_what_is_there(realtime_bench):
    text = banner(realtime_bench)
    assert "bench 'sim-vial' (sim, clock sim-realtime x20)" in text
    assert "thermo (thermometer)" in text and "e.g. thermo.sample.get()" in text
    assert "RE(plan)" in text and "catalog" in text


def shell_env(tmp_path):
    env = dict(os.environ, IPYTHONDIR=str(tmp_path / "ipython"), TERM="xterm")
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


@pytest.mark.subprocess
def test_shell_with_piped_input(tmp_path):
    commands = (
        "\n".join(
            [
                "thermo.sample.get()",
                "r = RE(bp.count([thermo], 3, delay=0.5))",
                "print('EXIT', r.exit_status)",
                "print('DEVICES', sorted(bench.devices))",
                "exit",
            ]
        )
        + "\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "labctl",
            "shell",
            "--sim",
            "--bench",
            str(VIAL),
            "--speed",
            "10",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        input=commands,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=shell_env(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "labctl shell: bench 'sim-vial'" in out
    assert re.search(r"Out\[1\]: 2\d\.\d", out), out
    assert "EXIT success" in out
    assert "DEVICES ['amf', 'laser', 'thermo']" in out
    assert out.count("|         ") >= 3  # three live-table rows
    assert list((tmp_path / "data").glob("*/*_count_*.zarr"))


def tmux(*args, socket):
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=30)


def wait_for(pattern, socket, timeout=90.0):
    """The pane's text once ``pattern`` appears in it (fails after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", "shell", socket=socket).stdout
        if re.search(pattern, text):
            return text
        time.sleep(0.3)
    raise AssertionError(f"{pattern!r} not on the screen after {timeout} s:\n{text}")


@pytest.mark.subprocess
@pytest.mark.skipif(
    shutil.which("tmux") is None,
    reason="tmux is not installed (apt-get install tmux): the terminal test "
    "needs it; the piped-input test covers the shell without it",
)
def test_shell_in_a_terminal_under_tmux(tmp_path):
    socket = f"labctl-test-{uuid.uuid4().hex[:8]}"  # a private tmux server, ours alone
    cmd = (
        f"{sys.executable} -m labctl shell --sim --bench {VIAL} --speed 10 "
        f"--data-dir {tmp_path / 'data'}; echo SHELL-EXIT $?; sleep 30"
    )
    env = shell_env(tmp_path)
    started = subprocess.run(
        [
            "tmux",
            "-L",
            socket,
            "new-session",
            "-d",
            "-s",
            "shell",
            "-x",
            "160",
            "-y",
            "50",
            "-c",
            str(tmp_path),
            "-e",
            f"IPYTHONDIR={env['IPYTHONDIR']}",
            cmd,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert started.returncode == 0, started.stderr
    try:
        wait_for(r"In \[1\]:", socket)
        tmux("send-keys", "-t", "shell", "thermo.sample.get()", "Enter", socket=socket)
        wait_for(r"Out\[1\]: 2\d\.\d", socket)
        tmux(
            "send-keys",
            "-t",
            "shell",
            "RE(bp.count([thermo], 3, delay=0.5))",
            "Enter",
            socket=socket,
        )
        screen = wait_for(r"exit_status='success'", socket)
        assert "thermo_sample" in screen  # the live table
        tmux("send-keys", "-t", "shell", "exit", "Enter", socket=socket)
        wait_for(r"SHELL-EXIT 0", socket, timeout=60)
    finally:
        tmux("kill-server", socket=socket)
