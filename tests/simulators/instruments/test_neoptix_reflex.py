"""Neoptix ReFlex emulator: bytes in, bytes out, quirks and coupling to the world."""

from __future__ import annotations

import math
import statistics

import pytest

from labctl.core.clock import SimClock
from labctl.core.errors import ConfigError
from labctl.simulators.instruments.neoptix_reflex import NeoptixReflexEmulator
from labctl.simulators.physics.probes import FiberProbe
from labctl.simulators.physics.world import SimWorld
from labctl.testing import TableSample


@pytest.fixture
def bench():
    clock = SimClock(start=1_000_000.0)
    sample = TableSample(tumor=37.0, rectal=36.5)
    world = SimWorld(clock, sample, seed=3)
    probes = {1: FiberProbe("tumor", noise_C=0.0), 2: FiberProbe("rectal", noise_C=0.0)}
    emu = NeoptixReflexEmulator(world, name="thermo", probes=probes)
    return clock, sample, emu


def ask(emu: NeoptixReflexEmulator, command: bytes) -> bytes:
    emu.write(command)
    return emu.read()


def test_t_all_enabled_channels_and_missing_probes(bench):
    _, _, emu = bench
    assert ask(emu, b"t\r") == b"+37.0\r+36.5\r---.-\r---.-\r*"
    assert ask(emu, b"t2\r") == b"+36.5\r*"
    assert ask(emu, b"T3\r") == b"---.-\r*"


def test_errors(bench):
    _, _, emu = bench
    assert ask(emu, b"x\r") == b"Err1"
    assert ask(emu, b"\r") == b"Err1"
    assert ask(emu, b"t5\r") == b"Err2"
    assert ask(emu, b"e1 7\r") == b"Err2"
    assert ask(emu, b"e-1 -2 -3 -4\r") == b"Err2"
    assert ask(emu, b"e1;2\r") == b"Err1"  # the manual's separator is a blank
    assert ask(emu, b"u c\r") == b"Err1"  # a single argument follows the letter: uc
    assert ask(emu, b"f1 abc\r") == b"Err2"
    assert ask(emu, b"f3 37.0\r") == b"Err5"  # no probe, nothing to force
    assert ask(emu, b"o3\r") == b"Err2"
    assert ask(emu, b"s1 0.5\r") == b"Err2" and ask(emu, b"z1 -100.1\r") == b"Err2"
    assert ask(emu, b"e-3\r") == b"*"
    assert ask(emu, b"t3\r") == b"---.-\r*"  # a disabled channel is invalid, not an error


def test_enable_sets_the_scan_and_the_t_reply(bench):
    _, _, emu = bench
    assert ask(emu, b"e1 -2 -3 4\r") == b"*"
    assert emu.enabled == (1, 4)
    assert ask(emu, b"t\r") == b"+37.0\r---.-\r---.-\r---.-\r*"  # every channel
    assert ask(emu, b"e2\r") == b"*" and emu.enabled == (1, 2, 4)
    assert ask(emu, b"e\r") == b"*" and emu.enabled == (1, 2, 3, 4)


def test_one_channel_model():
    clock = SimClock(start=0.0)
    world = SimWorld(clock, TableSample(tumor=40.0))
    emu = NeoptixReflexEmulator(
        world, name="one", channels=1, probes={1: FiberProbe("tumor", noise_C=0.0)}
    )
    assert ask(emu, b"t\r") == b"+40.0\r*"
    assert ask(emu, b"t1\r") == b"Err2"
    assert ask(emu, b"e1\r") == b"Err3"
    assert ask(emu, b"f 41.0\r") == b"*" and emu.offsets_C[1] == pytest.approx(1.0)
    assert ask(emu, b"y\r").startswith(b"CH1: power:2.61,") and ask(emu, b"y\r").count(b"\r") == 1
    with pytest.raises(ConfigError):
        NeoptixReflexEmulator(world, name="bad", channels=1, probes={2: FiberProbe("tumor")})


def test_probe_power_and_broken_fiber(bench):
    _, _, emu = bench
    lines = ask(emu, b"y\r").split(b"\r")
    assert lines[-1] == b"*"
    powers = [float(line.split(b"power:")[1].split(b",")[0]) for line in lines[:-1]]
    assert powers[0] > 1.1 and powers[1] > 1.1
    assert 0.3 <= powers[2] <= 1.1 and 0.3 <= powers[3] <= 1.1
    emu.probes[2].broken = True
    assert ask(emu, b"t\r").split(b"\r")[1] == b"---.-"
    assert b"CH2: power:0.85," in ask(emu, b"y\r")


def test_reading_follows_the_world_with_probe_lag_and_scan_refresh(bench):
    clock, sample, emu = bench
    assert ask(emu, b"t1\r") == b"+37.0\r*"
    sample.rate_C_s = 1.0  # the tumor warms at 1 C/s
    clock.advance(0.1)  # within one 4-channel scan (200 ms): no new reading yet
    assert ask(emu, b"t1\r") == b"+37.0\r*"
    clock.advance(9.9)
    # first-order probe (tau 0.5 s) on a ramp: lags by rate * tau = 0.5 C
    assert ask(emu, b"t1\r") == b"+46.5\r*"
    assert ask(emu, b"t2\r") == b"+36.5\r*"
    sample.rate_C_s = 0.0
    clock.advance(10.0)
    assert ask(emu, b"t1\r") == b"+47.0\r*"


def test_slow_mode_averages_four_readings(bench):
    clock, _, emu = bench
    emu.probes[1].noise_C = 0.5

    def spread() -> float:
        values = []
        for _ in range(400):
            clock.advance(0.2)
            values.append(float(ask(emu, b"t1\r")[:-2]))
        return statistics.pstdev(values)

    fast = spread()
    assert ask(emu, b"q-\r") == b"*" and not emu.fast
    slow = spread()
    assert 0.4 < fast < 0.6
    assert slow < 0.65 * fast  # mean of 4 -> noise / 2
    assert b"Scanning rate: Slow\r" in ask(emu, b"i\r")


def test_fahrenheit_and_enclosure(bench):
    clock, _, emu = bench
    assert ask(emu, b"b\r") == b"b:25.0\r*"
    assert ask(emu, b"uf\r") == b"*" and emu.units == "f"
    assert ask(emu, b"t1\r") == b"+98.6\r*"
    assert ask(emu, b"b\r") == b"b:77.0\r*"
    assert ask(emu, b"uc\r") == b"*"
    clock.advance(1200.0)  # one enclosure time constant
    assert ask(emu, b"b\r") == f"b:{32 - 7 * math.exp(-1):.1f}\r*".encode()


def test_force_applies_an_offset_within_five_degrees(bench):
    _, _, emu = bench
    assert ask(emu, b"f1 38.0\r") == b"*"
    assert emu.offsets_C[1] == pytest.approx(1.0)
    assert ask(emu, b"t1\r") == b"+38.0\r*"
    assert b"\r1\t-100.0\t350.0\tYes\t+0001.0\r" in ask(emu, b"i\r")
    assert ask(emu, b"f1 43.0\r") == b"Err2"
    assert emu.offsets_C[1] == pytest.approx(1.0)
    assert ask(emu, b"f1\r") == b"*" and emu.offsets_C[1] == 0.0
    assert ask(emu, b"t1\r") == b"+37.0\r*"


def test_identity_in_the_manuals_layout(bench):
    _, _, emu = bench
    reply = ask(emu, b"i\r")
    assert reply.endswith(b"\r*") and reply.count(b"*") == 1
    lines = reply[:-2].decode().split("\r")
    keys = [line.split(":")[0] for line in lines[:11]]
    assert keys == [
        "Model",
        "Option",
        "NB Channel",
        "Mode",
        "Scanning rate",
        "Serial",
        "Internal Software",
        "Last Factory Calibration",
        "Unit",
        "Analog out, if error",
        "Keyboard Status",
    ]
    assert lines[2] == "NB Channel: 4" and lines[3] == "Mode: Continuous Scanning Mode"
    assert lines[11].split("\t") == ["Channel", "Zero", "Span", "Enabled", "Temperature offset"]
    assert lines[12:] == [f"{ch}\t-100.0\t350.0\tYes\t+0000.0" for ch in range(1, 5)]


def test_keypad_sleep_analog_settings_show_in_i(bench):
    _, _, emu = bench
    for cmd in (b"l+\r", b"p+\r", b"o2\r", b"s2 100.0\r", b"z2 0.0\r", b"e-3\r"):
        assert ask(emu, cmd) == b"*", cmd
    reply = ask(emu, b"i\r")
    for line in (b"Keyboard Status: Lock", b"Mode: Sleep Mode", b"Analog out, if error: Min"):
        assert b"\r" + line + b"\r" in reply
    assert b"\r2\t0.0\t100.0\tYes\t+0000.0\r3\t-100.0\t350.0\tNo\t" in reply
    assert ask(emu, b"l-\r") == b"*" and b"Keyboard Status: Unlock" in ask(emu, b"i\r")


def test_help_screen_lists_the_commands(bench):
    _, _, emu = bench
    lines = ask(emu, b"h\r").split(b"\r")
    assert lines[-1] == b"*"
    letters = {line.split(b" ")[0].split(b"[")[0] for line in lines[:-1]}
    assert letters == set(b"b e f h i l o p q s t ta u y z".split())


def test_sleep_scans_only_on_t(bench):
    clock, sample, emu = bench
    assert ask(emu, b"t1\r") == b"+37.0\r*"
    assert ask(emu, b"p+\r") == b"*" and emu.asleep
    sample.rate_C_s = 1.0
    clock.advance(10.0)
    assert emu.reading_C(1) == pytest.approx(37.0)  # no scan while asleep
    assert ask(emu, b"t1\r") == b"+46.5\r*"  # t scans at once
    assert ask(emu, b"p-\r") == b"*" and not emu.asleep


def test_err1_during_warm_up():
    clock = SimClock(start=0.0)
    world = SimWorld(clock, TableSample(tumor=40.0))
    probes = {1: FiberProbe("tumor", noise_C=0.0)}
    emu = NeoptixReflexEmulator(world, name="w", channels=1, probes=probes, warmup_s=30.0)
    assert ask(emu, b"t\r") == b"Err1"
    assert ask(emu, b"b\r").startswith(b"b:")  # not a temperature reading
    clock.advance(30.0)
    assert ask(emu, b"t\r") == b"+40.0\r*"


def test_stream_lines_at_the_scan_rate(bench):
    clock, _, emu = bench
    assert ask(emu, b"e1 2 -3 -4\r") == b"*"
    assert ask(emu, b"ta+\r") == b"*" and emu.streaming
    clock.advance(1.0)
    lines = emu.read().split(b"\r")
    assert lines[-1] == b""
    assert lines[:4] == [b"C:1;T: +37.0", b"C:2;T: +36.5", b"C:1;T: +37.0", b"C:2;T: +36.5"]
    assert len(lines) - 1 == 20  # 50 ms per channel
    clock.advance(0.1)
    assert ask(emu, b"t\r") == b"+37.0\r+36.5\r---.-\r---.-\r*C:1;T: +37.0\rC:2;T: +36.5\r"
    assert ask(emu, b"ta-\r") == b"*" and not emu.streaming
    clock.advance(1.0)
    assert emu.read() == b""


def test_stream_drops_what_no_one_reads(bench):
    clock, _, emu = bench
    ask(emu, b"ta+\r")
    clock.advance(3600.0)
    lines = emu.read().split(b"\r")[:-1]
    assert len(lines) == emu.stream_buffer_lines
    assert emu.dropped_lines == 72_000 - emu.stream_buffer_lines
    assert all(line.startswith(b"C:") for line in lines)
    assert lines[-1].startswith(b"C:4;")  # the cycle stays in step: line 72000 is channel 4
