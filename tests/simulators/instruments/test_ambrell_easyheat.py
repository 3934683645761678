"""EASYHEAT emulator: bytes in, bytes out, interlocks, and the field it puts on the sample."""

from __future__ import annotations

import math

import pytest

from labctl.core.clock import SimClock
from labctl.core.errors import ConfigError
from labctl.simulators.instruments.ambrell_easyheat import AmbrellEasyHeatEmulator
from labctl.simulators.physics.world import SampleModel, SimWorld

CAL = {230e3: 0.040, 354e3: 0.035, 20e3: 0.050}  # Hz -> kA/m per A


class RecordingSample:
    """Lumped sample ``C dT/dt = P - L (T - T_amb)`` with ``P = a H^2 f`` that records
    the field it sees (``field_integral`` = integral of H dt, A s/m)."""

    positions = ("sample",)

    def __init__(self, a: float = 1e-12, C: float = 10.0, L: float = 0.05) -> None:
        self.t_s = 0.0
        self.T = 25.0
        self.a, self.C, self.L = a, C, L
        self.frequency_Hz = 0.0
        self.field_A_m = 0.0
        self.field_integral = 0.0
        self.history: list[tuple[float, float, float]] = []

    def power_W(self) -> float:
        return self.a * self.field_A_m**2 * self.frequency_Hz

    def advance(self, dt_s: float) -> None:
        self.T += dt_s * (self.power_W() - self.L * (self.T - 25.0)) / self.C
        self.field_integral += self.field_A_m * dt_s
        self.t_s += dt_s

    def set_amf(self, frequency_Hz: float, field_A_m: float) -> None:
        self.frequency_Hz, self.field_A_m = frequency_Hz, field_A_m
        self.history.append((self.t_s, frequency_Hz, field_A_m))

    def set_laser(self, power_W, wavelength_nm, spot_area_cm2) -> None:
        pass

    def temperature(self, position: str) -> float:
        return self.T

    def amf_power_W(self) -> float:
        return self.power_W()

    def truth(self) -> dict:
        return {"amf_power_W": self.power_W()}


@pytest.fixture
def bench():
    clock = SimClock(start=1000.0)
    sample = RecordingSample(a=0.0)  # no load: power readback is the coil's I^2 R
    assert isinstance(sample, SampleModel)
    world = SimWorld(clock, sample, seed=1)
    emu = AmbrellEasyHeatEmulator(world, name="amf", coil_calibration=CAL, readback_noise=0.0)
    return clock, sample, emu


def talk(emu, line: str) -> str:
    emu.write(line.encode() + b"\r")
    return emu.read().decode()


def heat(emu, amps: float) -> None:
    for line in ("1,remote", f"1,amps,{amps}", "1,hon"):
        assert talk(emu, line) == "1,OK\r\n", line


def test_initial_status_line(bench):
    _, _, emu = bench
    assert talk(emu, "1,stat") == "1,0,0.0,0,0,230,0,0\r\n"
    assert talk(emu, "1,STAT") == "1,0,0.0,0,0,230,0,0\r\n"  # not case-sensitive
    assert talk(emu, "1,faults") == "1,0\r\n"
    assert talk(emu, "1,maxamps") == "1,600\r\n"
    assert talk(emu, "1,tanks") == "1,230,354,20\r\n"
    assert talk(emu, "1,tank") == "1,230\r\n"


def test_framing_quirks(bench):
    _, _, emu = bench
    assert talk(emu, "1, stat") == "1,ERR,1\r\n"  # no spaces allowed
    assert talk(emu, "1,remote") == "1,OK\r\n"
    assert talk(emu, "1,amps, 100") == "1,ERR,2\r\n"
    assert talk(emu, "1,amps") == "1,ERR,2\r\n"
    assert talk(emu, "1,amps,1e2") == "1,ERR,2\r\n"
    assert talk(emu, "1,amps,601") == "1,ERR,3\r\n"
    assert talk(emu, "1,bogus") == "1,ERR,1\r\n"
    assert talk(emu, "stat") == ""  # no address: nobody answers
    assert talk(emu, "2,stat") == ""  # another unit's address
    assert talk(emu, "1,stat\n").startswith("1,0,")  # a trailing LF is tolerated
    emu.write(b"1,st")
    assert emu.read() == b""
    emu.write(b"at\r")
    assert emu.read() == b"1,0,0.0,0,0,230,0,0\r\n"


def test_help_lists_commands_and_ends_with_ok(bench):
    _, _, emu = bench
    lines = talk(emu, "1,?").split("\r\n")
    assert lines[-2:] == ["1,OK", ""]
    names = {line.split(" ")[0].split(",")[0].split("[")[0] for line in lines[:-2]}
    assert {
        "amps",
        "%amps",
        "hon",
        "hoff",
        "almin",
        "almax",
        "aldelay",
        "alon",
        "aloff",
        "stat",
        "faults",
        "tank",
        "remote",
    } <= names


def test_setpoints_need_remote_control(bench):
    _, _, emu = bench
    for line in ("1,amps,100", "1,%amps,50", "1,hon", "1,tank,354"):
        assert talk(emu, line) == "1,ERR,4\r\n"
    assert talk(emu, "1,hoff") == "1,OK\r\n"  # heat off is always accepted
    assert talk(emu, "1,remote") == "1,OK\r\n"
    assert talk(emu, "1,%amps,50") == "1,OK\r\n"
    assert emu.setpoint_A == 300.0
    assert talk(emu, "1,local") == "1,OK\r\n"
    assert talk(emu, "1,amps,10") == "1,ERR,4\r\n"


def test_ramp_drives_the_world_field(bench):
    clock, sample, emu = bench
    heat(emu, 200)
    assert emu.heating and emu.field_A_m == 0.0
    clock.advance(0.2)  # slew 300 A/s, ramp ticks every 0.05 s
    assert emu.current_A == pytest.approx(60.0)
    assert sample.field_A_m == pytest.approx(0.040e3 * 60.0)
    assert sample.frequency_Hz == 230e3
    clock.advance(1.0)
    assert emu.current_A == 200.0
    assert emu.field_A_m == pytest.approx(8000.0)
    assert sample.field_A_m == pytest.approx(8000.0)
    status = talk(emu, "1,stat")
    assert status.startswith("1,1,200.0,200,800,230,1,1")  # I^2 R = 200^2 * 0.02 W
    assert talk(emu, "1,hoff") == "1,OK\r\n"
    assert not emu.heating
    assert sample.history[-1] == (pytest.approx(1.2), 230e3, 0.0)


def test_lockstep_jump_integrates_the_ramp(bench):
    clock, sample, emu = bench
    sample.a = 1e-12
    heat(emu, 300)  # ramp 1 s
    clock.advance(60.0)
    talk(emu, "1,hoff")
    full = 0.040e3 * 300
    expected = full * (60.0 - 0.5)  # a linear ramp loses half its duration
    assert sample.field_integral == pytest.approx(expected, rel=2e-3)
    assert sample.T > 25.0


def test_broadcast_heat_off_gets_no_reply(bench):
    _, sample, emu = bench
    heat(emu, 100)
    assert talk(emu, "0,hoff") == ""
    assert not emu.heating and sample.field_A_m == 0.0
    assert talk(emu, "0,hon") == ""  # not a broadcast command: ignored
    assert not emu.heating


def test_tank_selection(bench):
    clock, sample, emu = bench
    talk(emu, "1,remote")
    assert talk(emu, "1,tank,100") == "1,ERR,3\r\n"
    assert talk(emu, "1,tank,354") == "1,OK\r\n"
    assert emu.frequency_Hz == 354e3
    assert talk(emu, "1,tank") == "1,354\r\n"
    heat(emu, 100)
    assert talk(emu, "1,tank,230") == "1,ERR,5\r\n"
    assert emu.frequency_Hz == 354e3
    clock.advance(1.0)
    assert sample.frequency_Hz == 354e3
    assert sample.field_A_m == pytest.approx(0.035e3 * 100)
    watts = float(talk(emu, "1,stat").split(",")[4])
    assert watts == pytest.approx(100**2 * 0.02 * math.sqrt(354 / 230), abs=0.5)


def test_power_includes_the_sample_load(bench):
    clock, sample, emu = bench
    sample.a = 2e-8  # a lossy load: 2e-8 * 8000^2 * 230e3 = 294 W
    heat(emu, 200)
    clock.advance(2.0)
    watts = float(talk(emu, "1,stat").split(",")[4])
    assert watts == pytest.approx(800 + 2e-8 * 8000**2 * 230e3, abs=1)


def test_heat_refused_with_coolant_fault_and_latched(bench):
    _, _, emu = bench
    emu.set_coolant_ok(False)
    talk(emu, "1,remote")
    assert talk(emu, "1,hon") == "1,ERR,6\r\n"
    assert not emu.heating
    assert talk(emu, "1,faults") == "1,1\r\n"
    assert talk(emu, "1,reset") == "1,OK\r\n"
    assert talk(emu, "1,faults") == "1,1\r\n"  # cause still present
    emu.set_coolant_ok(True)
    assert talk(emu, "1,faults") == "1,1\r\n"  # latched until reset
    assert talk(emu, "1,hon") == "1,ERR,6\r\n"
    talk(emu, "1,reset")
    assert talk(emu, "1,faults") == "1,0\r\n"
    assert talk(emu, "1,hon") == "1,OK\r\n"


@pytest.mark.parametrize(("where", "bit"), [("coil", 2), ("capacitor", 4)])
def test_trips_off_when_an_interlock_opens_while_heating(bench, where, bit):
    clock, sample, emu = bench
    heat(emu, 200)
    clock.advance(2.0)
    assert sample.field_A_m > 0
    if where == "coil":
        emu.set_coolant_ok(False)
        bit = 1
    else:
        emu.set_overtemperature(True, where=where)
    assert not emu.heating
    assert sample.field_A_m == 0.0
    assert talk(emu, "1,stat").startswith("1,0,200.0,0,0,230,2,1")
    assert talk(emu, "1,faults") == f"1,{bit}\r\n"
    assert emu.fault_bits == bit


def test_overtemperature_refuses_heat(bench):
    _, _, emu = bench
    emu.set_overtemperature(True)
    talk(emu, "1,remote")
    assert talk(emu, "1,hon") == "1,ERR,6\r\n"
    assert talk(emu, "1,faults") == "1,2\r\n"
    with pytest.raises(ValueError):
        emu.set_overtemperature(True, where="tank")


def test_power_window_alarm_trips_heat_off(bench):
    clock, _, emu = bench
    for line in ("1,almin,500", "1,almax,2000", "1,aldelay,1.00", "1,alon"):
        assert talk(emu, line) == "1,OK\r\n"
    heat(emu, 100)  # 100^2 * 0.02 = 200 W < almin
    clock.advance(0.9)
    assert emu.heating
    clock.advance(0.3)
    assert not emu.heating
    assert talk(emu, "1,faults") == "1,8\r\n"
    assert talk(emu, "1,hon") == "1,ERR,6\r\n"
    talk(emu, "1,reset")
    assert talk(emu, "1,faults") == "1,0\r\n"


def test_power_window_alarm_tolerates_the_ramp(bench):
    clock, _, emu = bench
    for line in ("1,almin,500", "1,almax,2000", "1,aldelay,1", "1,alon"):
        talk(emu, line)
    heat(emu, 200)  # 800 W, reached at 0.67 s; in the window from 0.53 s
    clock.advance(30.0)
    assert emu.heating
    talk(emu, "1,amps,400")  # 3200 W > almax
    clock.advance(1.5)
    assert not emu.heating
    assert emu.fault_bits == 8


def test_alarm_disabled_never_trips(bench):
    clock, _, emu = bench
    talk(emu, "1,almin,500")
    heat(emu, 100)
    clock.advance(10.0)
    assert emu.heating


def test_timer_and_counter(bench):
    clock, _, emu = bench
    heat(emu, 50)
    clock.advance(5.0)
    assert talk(emu, "1,stat").split(",")[6:] == ["5", "1\r\n"]
    talk(emu, "1,hoff")
    clock.advance(3.0)
    talk(emu, "1,hon")
    clock.advance(2.0)
    talk(emu, "1,hoff")
    assert talk(emu, "1,stat").split(",")[6:] == ["2", "2\r\n"]


def test_readback_noise_is_seeded():
    def run():
        clock = SimClock(start=0.0)
        world = SimWorld(clock, RecordingSample(), seed=3)
        emu = AmbrellEasyHeatEmulator(world, readback_noise=0.01, control="remote")
        heat(emu, 300)
        clock.advance(2.0)
        return [talk(emu, "1,stat").split(",")[3] for _ in range(5)]

    first = run()
    assert first == run()
    assert len(set(first)) > 1
    assert all(abs(float(a) - 300) < 20 for a in first)


def test_shutdown_cancels_the_ramp_and_switches_off(bench):
    clock, sample, emu = bench
    heat(emu, 500)
    emu.shutdown()
    clock.advance(1.0)
    assert not emu.heating and sample.field_A_m == 0.0 and emu.current_A == 0.0


@pytest.mark.parametrize(
    "options",
    [
        {"address": 0},
        {"control": "panel"},
        {"coil_calibration": {}},
        {"coil_calibration": {230e3: -1.0}},
        {"frequency_Hz": 100e3},
    ],
)
def test_bad_options(options):
    world = SimWorld(SimClock(start=0.0), RecordingSample())
    with pytest.raises(ConfigError):
        AmbrellEasyHeatEmulator(world, **options)


def test_needs_a_world():
    with pytest.raises(ConfigError):
        AmbrellEasyHeatEmulator(None)
