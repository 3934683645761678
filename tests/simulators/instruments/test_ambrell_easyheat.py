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


def payload(emu, line: str) -> str:
    """The payload of a ``<CR><LF>payload<CR><LF>`` reply (ISIS framing)."""
    reply = talk(emu, line)
    assert reply.startswith("\r\n") and reply.endswith("\r\n"), reply
    return reply[2:-2]


def rdata(emu) -> list[str]:
    return payload(emu, "1,RDATA").split(",")


def heat(emu, amps: float) -> None:
    for line in (f"1,amps,{amps}", "1,hon"):
        assert talk(emu, line) == "", line  # settings get no reply (model)


def test_initial_state_isis_queries(bench):
    _, _, emu = bench
    assert talk(emu, "1,RDATA") == "\r\n1,0,0.0,0.0,0,230,0,0\r\n"
    assert talk(emu, "1,rdata") == "\r\n1,0,0.0,0.0,0,230,0,0\r\n"  # not case-sensitive
    assert talk(emu, "1,SYSID") == "\r\n12345\r\n"
    assert talk(emu, "1,STAT") == "\r\n230.0,0.0,0.0,20.0,20.0\r\n"
    assert payload(emu, "1,maxamps") == "600"  # a bare number, as client code reads it
    assert payload(emu, "1,faults") == "0"
    assert payload(emu, "1,temp") == "20.0"
    assert payload(emu, "1,rtemp") == "200"


def test_framing_quirks(bench):
    _, _, emu = bench
    assert talk(emu, "1, RDATA") == ""  # no spaces allowed: not understood, no reply
    assert talk(emu, "1,amps, 100") == ""
    assert emu.setpoint_A == 0.0
    for line in ("1,amps", "1,amps,1e2", "1,amps,601", "1,bogus", "RDATA", "2,RDATA"):
        assert talk(emu, line) == "", line
    assert emu.setpoint_A == 0.0
    assert talk(emu, "1,RDATA\n").startswith("\r\n1,0,")  # a trailing LF is tolerated
    emu.write(b"1,RD")
    assert emu.read() == b""
    emu.write(b"ATA\r")
    assert emu.read() == b"\r\n1,0,0.0,0.0,0,230,0,0\r\n"


def test_help_lists_the_manual_commands(bench):
    _, _, emu = bench
    lines = payload(emu, "1,?").split("\r\n")
    names = {line.split(" ")[0].split(",")[0] for line in lines}
    manual = {"%amps", "?", "aldelay", "almax", "almin", "aloff", "alon", "amps", "maxamps"}
    assert manual | {"hoff", "rdata", "sysid", "stat"} <= names
    assert "remote" not in names and "local" not in names


def test_amps_from_a_fresh_client_is_accepted(bench):
    """RS-485 is the control location by default: ``1,amps,10`` needs nothing first."""
    _, _, emu = bench
    assert talk(emu, "1,amps,10") == ""
    assert rdata(emu)[2] == "10.0"
    assert talk(emu, "1,%amps,50") == ""
    assert emu.setpoint_A == 300.0


def test_front_panel_control_ignores_rs485_setpoints_and_heat_on():
    world = SimWorld(SimClock(start=0.0), RecordingSample())
    emu = AmbrellEasyHeatEmulator(world, control="front_panel", readback_noise=0.0)
    for line in ("1,amps,100", "1,%amps,50", "1,hon", "1,tank,354"):
        assert talk(emu, line) == ""
    assert rdata(emu)[:3] == ["1", "0", "0.0"] and emu.frequency_Hz == 230e3
    assert talk(emu, "1,hoff") == ""  # heat off is always accepted


def test_percent_amps_needs_enabling():
    world = SimWorld(SimClock(start=0.0), RecordingSample())
    emu = AmbrellEasyHeatEmulator(world, percent_amps=False)
    talk(emu, "1,%amps,50")
    assert emu.setpoint_A == 0.0


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
    assert rdata(emu) == ["1", "1", "200.0", "200.0", "800", "230", "0", "1200"]  # I^2 R
    assert talk(emu, "1,hoff") == ""
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
    assert talk(emu, "0,RDATA") == ""  # a broadcast is never answered
    assert not emu.heating


def test_tank_selection(bench):
    clock, sample, emu = bench
    assert talk(emu, "1,tank,100") == ""  # not a tank: ignored
    assert emu.frequency_Hz == 230e3
    assert talk(emu, "1,tank,354") == ""
    assert emu.frequency_Hz == 354e3
    assert rdata(emu)[5] == "354"
    heat(emu, 100)
    talk(emu, "1,tank,230")  # refused while heating
    assert emu.frequency_Hz == 354e3
    clock.advance(1.0)
    assert sample.frequency_Hz == 354e3
    assert sample.field_A_m == pytest.approx(0.035e3 * 100)
    watts = float(rdata(emu)[4])
    assert watts == pytest.approx(100**2 * 0.02 * math.sqrt(354 / 230), abs=0.5)


def test_power_includes_the_sample_load(bench):
    clock, sample, emu = bench
    sample.a = 2e-8  # a lossy load: 2e-8 * 8000^2 * 230e3 = 294 W
    heat(emu, 200)
    clock.advance(2.0)
    watts = float(rdata(emu)[4])
    assert watts == pytest.approx(800 + 2e-8 * 8000**2 * 230e3, abs=1)


def test_heat_refused_with_coolant_fault_and_latched(bench):
    _, _, emu = bench
    emu.set_coolant_ok(False)
    talk(emu, "1,hon")
    assert not emu.heating
    assert payload(emu, "1,faults") == "1"
    assert talk(emu, "1,reset") == ""
    assert payload(emu, "1,faults") == "1"  # cause still present
    emu.set_coolant_ok(True)
    assert payload(emu, "1,faults") == "1"  # latched until reset
    talk(emu, "1,hon")
    assert not emu.heating
    talk(emu, "1,reset")
    assert payload(emu, "1,faults") == "0"
    talk(emu, "1,hon")
    assert emu.heating


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
    assert rdata(emu) == ["1", "0", "200.0", "0.0", "0", "230", "0", "2000"]
    assert payload(emu, "1,faults") == str(bit)
    assert emu.fault_bits == bit


def test_overtemperature_refuses_heat(bench):
    _, _, emu = bench
    emu.set_overtemperature(True)
    talk(emu, "1,hon")
    assert not emu.heating
    assert payload(emu, "1,faults") == "2"
    with pytest.raises(ValueError):
        emu.set_overtemperature(True, where="tank")


def test_power_window_alarm_trips_heat_off(bench):
    clock, _, emu = bench
    for line in ("1,almin,500", "1,almax,2000", "1,aldelay,1.00", "1,alon"):
        assert talk(emu, line) == ""
    heat(emu, 100)  # 100^2 * 0.02 = 200 W < almin
    clock.advance(0.9)
    assert emu.heating
    clock.advance(0.3)
    assert not emu.heating
    assert payload(emu, "1,faults") == "8"
    talk(emu, "1,hon")
    assert not emu.heating
    talk(emu, "1,reset")
    assert payload(emu, "1,faults") == "0"


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


def test_count_up_timer_and_stat_totals(bench):
    clock, _, emu = bench
    heat(emu, 50)
    clock.advance(5.0)
    assert rdata(emu)[6:] == ["0", "5000"]
    talk(emu, "1,hoff")
    clock.advance(3.0)
    talk(emu, "1,hon")
    clock.advance(2.0)
    talk(emu, "1,hoff")
    assert rdata(emu)[6:] == ["0", "2000"]  # the last heat cycle
    mains, total, max_w, heatsink, enclosure = map(float, payload(emu, "1,STAT").split(","))
    assert (mains, total, max_w) == (230.0, 7.0, 50.0)  # 50^2 * 0.02 W
    assert heatsink == pytest.approx(20.5) and enclosure == pytest.approx(20.2)


def test_timer_ends_the_heat_cycle(bench):
    clock, sample, emu = bench
    assert talk(emu, "1,timer,3") == ""
    heat(emu, 50)
    clock.advance(1.0)
    assert rdata(emu)[6:] == ["2000", "1000"]
    clock.advance(2.5)
    assert not emu.heating and sample.field_A_m == 0.0


def test_readback_noise_is_seeded():
    def run():
        clock = SimClock(start=0.0)
        world = SimWorld(clock, RecordingSample(), seed=3)
        emu = AmbrellEasyHeatEmulator(world, readback_noise=0.01)
        heat(emu, 300)
        clock.advance(2.0)
        return [rdata(emu)[3] for _ in range(5)]

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
