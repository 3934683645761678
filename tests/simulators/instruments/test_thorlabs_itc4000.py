"""ITC4000 emulator: bytes in, bytes out, quirks and the coupling to the world."""

from __future__ import annotations

import math

import pytest

from labctl.core.clock import SimClock
from labctl.core.errors import ConfigError
from labctl.simulators.instruments.thorlabs_itc4000 import ITC4000Emulator
from labctl.simulators.physics.world import SampleModel, SimWorld

AREA_CM2 = math.pi * 0.4**2  # 8 mm spot


class LumpedVial:
    """Minimal lumped sample, C dT/dt = eta P - L (T - T_amb) (PHYSICS.md section 2),
    recording every laser input it receives."""

    def __init__(self, heat_capacity_J_K=4.2, loss_W_K=0.02, absorbed=0.5, ambient_C=22.0):
        self.t_s = 0.0
        self.C, self.L, self.eta, self.ambient = heat_capacity_J_K, loss_W_K, absorbed, ambient_C
        self.T = ambient_C
        self.power_W = 0.0
        self.laser_calls: list[tuple[float, float, float]] = []

    @property
    def positions(self):
        return ("vial",)

    def advance(self, dt_s):
        tau = self.C / self.L
        t_inf = self.ambient + self.eta * self.power_W / self.L
        self.T = t_inf + (self.T - t_inf) * math.exp(-dt_s / tau)
        self.t_s += dt_s

    def set_amf(self, frequency_Hz, field_A_m):
        pass

    def set_laser(self, power_W, wavelength_nm, spot_area_cm2):
        self.power_W = power_W
        self.laser_calls.append((power_W, wavelength_nm, spot_area_cm2))

    def temperature(self, position):
        return self.T

    def truth(self):
        return {"laser_power_W": self.power_W}


@pytest.fixture
def world():
    clock = SimClock("lockstep", start=1000.0)
    return SimWorld(clock, LumpedVial(), seed=1)


@pytest.fixture
def emu(world):
    return ITC4000Emulator(world, name="laser", tec_noise_C=0.0)


def ask(emu: ITC4000Emulator, line: str) -> bytes:
    emu.write(line.encode() + b"\n")
    return emu.read()


def next_error(emu) -> bytes:
    return ask(emu, "SYST:ERR?")


def settle(emu, world, seconds=20.0):
    ask(emu, "OUTP2:STAT ON")
    world.clock.advance(seconds)


def test_sample_stand_in_satisfies_the_protocol():
    assert isinstance(LumpedVial(), SampleModel)


def test_identity_and_common_commands(emu):
    assert ask(emu, "*IDN?") == b"Thorlabs,ITC4001,M00412345,1.8.0/1.5.0/2.3.0\n"
    assert ask(emu, "*OPC?") == b"1\n"
    assert next_error(emu) == b'+0,"No error"\n'
    assert ask(emu, "*IDN?\r") == b"Thorlabs,ITC4001,M00412345,1.8.0/1.5.0/2.3.0\n"


def test_current_setpoint_short_and_long_forms(emu):
    assert ask(emu, "SOURce1:CURRent:LEVel:IMMediate:AMPLitude 1.25") == b""
    assert ask(emu, "sour:curr?") == b"1.250000E+00\n"
    assert ask(emu, "SOUR:CURR 750mA;CURR?") == b"7.500000E-01\n"
    assert ask(emu, "SOUR:CURR? MAX;:SOUR:CURR? MIN") == b"4.000000E+00;0.000000E+00\n"
    assert next_error(emu) == b'+0,"No error"\n'


def test_current_above_limit_is_rejected_not_clamped(emu):
    ask(emu, "SOUR:CURR 2")
    ask(emu, "SOUR:CURR 4.5")
    assert next_error(emu) == b'-222,"Data out of range;4.5 outside [0, 4]"\n'
    assert ask(emu, "SOUR:CURR?") == b"2.000000E+00\n"
    ask(emu, "SOUR:CURR:LIM 1.5")
    assert ask(emu, "SOUR:CURR:LIM?;:SOUR:CURR?") == b"1.500000E+00;1.500000E+00\n"
    ask(emu, "SOUR:CURR:LIM 6")  # above the controller's 5 A rating
    assert next_error(emu).startswith(b"-222,")
    ask(emu, "SOUR:CURR? 3")
    assert next_error(emu).startswith(b"-224,")


def test_unknown_and_malformed_commands(emu):
    assert ask(emu, "SOUR:VOLT?") == b""
    assert ask(emu, "OUTP:STAT MAYBE") == b""
    assert ask(emu, "SOUR:FUNC:MODE VOLT") == b""
    assert next_error(emu) == b'-113,"Undefined header;SOUR:VOLT?"\n'
    assert next_error(emu).startswith(b"-104,")
    assert next_error(emu).startswith(b"-224,")
    assert next_error(emu) == b'+0,"No error"\n'


@pytest.mark.parametrize(
    "prepare, reason",
    [
        (lambda e, w: None, b"TEC output off"),
        (lambda e, w: ask(e, "OUTP2:STAT ON"), b"TEC temperature outside window"),
        (lambda e, w: (settle(e, w), e.set_interlock(False)), b"interlock open"),
        (lambda e, w: (settle(e, w), e.set_keylock(False)), b"keylock off"),
        (lambda e, w: (settle(e, w), e.set_overtemperature(True)), b"over temperature"),
    ],
)
def test_ld_on_refused_leaves_state_0(emu, world, prepare, reason):
    prepare(emu, world)
    ask(emu, "SOUR:CURR 1.5")
    ask(emu, "OUTP:STAT ON")
    err = next_error(emu)
    assert err.startswith(b'-221,"Settings conflict;LD output refused: ') and reason in err
    assert ask(emu, "OUTP:STAT?") == b"0\n"
    assert not emu.emission_on
    assert emu.optical_power_W == 0.0
    assert world.sample.power_W == 0.0


def test_tec_first_order_response_in_virtual_time(emu, world):
    assert ask(emu, "MEAS:TEMP?") == b"2.200000E+01\n"
    ask(emu, "SOUR2:TEMP 25C;:OUTP2:STAT ON")
    world.clock.advance(emu.tec_tau_s)
    expected = 25.0 + (22.0 - 25.0) * math.exp(-1.0)
    assert float(ask(emu, "MEAS:TEMP?")) == pytest.approx(expected, abs=5e-4)
    assert ask(emu, "SENS2:TEMP:DATA?") == ask(emu, "MEAS:TEMP?")
    world.clock.advance(20.0)
    assert float(ask(emu, "MEAS:TEMP?")) == pytest.approx(25.0, abs=1e-3)
    ask(emu, "OUTP2:STAT OFF")
    world.clock.advance(emu.passive_tau_s)
    expected = 22.0 + (25.0 - 22.0) * math.exp(-1.0)
    assert emu.tec_temperature_C == pytest.approx(expected, abs=1e-3)
    ask(emu, "SOUR2:TEMP 60")
    assert next_error(emu).startswith(b"-222,")


def test_temperature_noise_comes_from_the_world_rng(world):
    emu = ITC4000Emulator(world, name="laser", tec_noise_C=0.05)
    readings = {float(ask(emu, "MEAS:TEMP?")) for _ in range(20)}
    assert len(readings) > 5
    assert all(abs(r - 22.0) < 0.3 for r in readings)


def test_lasing_follows_the_pi_curve_and_drives_the_world(world):
    emu = ITC4000Emulator(
        world,
        name="laser",
        slope_W_per_A=0.8,
        threshold_A=0.4,
        wavelength_nm=1064.0,
        spot_diameter_mm=10.0,
        tec_noise_C=0.0,
    )
    area = math.pi * 0.5**2
    calls = world.sample.laser_calls
    assert calls[-1] == (0.0, 1064.0, pytest.approx(area))
    settle(emu, world)
    ask(emu, "SOUR:CURR 0.3;:OUTP:STAT ON")  # below threshold: no light
    assert emu.emission_on and emu.optical_power_W == 0.0
    assert ask(emu, "MEAS:CURR?;:MEAS:POW2?") == b"3.000000E-01;0.000000E+00\n"
    ask(emu, "SOUR:CURR 2.4")
    assert emu.optical_power_W == pytest.approx(0.8 * (2.4 - 0.4))
    assert float(ask(emu, "MEAS:POW2?")) == pytest.approx(1.6)
    assert calls[-1] == (pytest.approx(1.6), 1064.0, pytest.approx(area))
    n = len(calls)
    ask(emu, "SOUR:CURR 2.4")  # no change of the optical output: no new call
    assert len(calls) == n
    t0 = world.temperature("vial")
    world.clock.advance(60.0)
    assert world.temperature("vial") > t0 + 3.0  # the sample heats under the beam
    ask(emu, "OUTP:STAT OFF")
    assert calls[-1][0] == 0.0
    assert ask(emu, "MEAS:CURR?;:MEAS:POW2?") == b"0.000000E+00;0.000000E+00\n"


def test_interlock_trip_while_lasing_latches(emu, world):
    settle(emu, world)
    ask(emu, "SOUR:CURR 1.5;:OUTP ON")
    assert emu.emission_on and world.sample.power_W == pytest.approx(1.0)
    emu.set_interlock(False)
    assert not emu.emission_on
    assert world.sample.power_W == 0.0
    assert ask(emu, "OUTP:STAT?;:OUTP:PROT:INTL:TRIP?") == b"0;1\n"
    emu.set_interlock(True)
    assert ask(emu, "OUTP:PROT:INTL:TRIP?") == b"1\n"  # latched after closing
    ask(emu, "OUTP ON")  # closed again: re-enabling is allowed and clears the latch
    assert emu.emission_on
    assert ask(emu, "OUTP:PROT:INTL:TRIP?") == b"0\n"
    emu.set_interlock(False)
    emu.set_interlock(True)
    ask(emu, "*CLS")
    assert ask(emu, "OUTP:PROT:INTL:TRIP?") == b"0\n"


def test_trip_query_reports_an_open_interlock_while_idle(emu):
    emu.set_interlock(False)
    assert ask(emu, "OUTP:PROT:INTL:TRIP?") == b"1\n"
    ask(emu, "*CLS")
    assert ask(emu, "OUTP:PROT:INTL:TRIP?") == b"1\n"  # the condition persists
    emu.set_interlock(True)
    assert ask(emu, "OUTP:PROT:INTL:TRIP?") == b"0\n"  # never latched: was not lasing


@pytest.mark.parametrize(
    "fault, query",
    [
        (lambda e: e.set_keylock(False), "OUTP:PROT:KEYL:TRIP?"),
        (lambda e: e.set_overtemperature(True), "OUTP:PROT:OTEM:TRIP?"),
    ],
)
def test_keylock_and_overtemperature_trip_while_lasing(emu, world, fault, query):
    settle(emu, world)
    ask(emu, "SOUR:CURR 1;:OUTP ON")
    assert ask(emu, query) == b"0\n"
    fault(emu)
    assert not emu.emission_on and world.sample.power_W == 0.0
    assert ask(emu, query) == b"1\n"


def test_tec_off_or_reset_while_lasing_switches_the_ld_off(emu, world):
    settle(emu, world)
    ask(emu, "SOUR:CURR 2;:OUTP ON")
    ask(emu, "OUTP2:STAT OFF")
    assert not emu.emission_on and world.sample.power_W == 0.0
    settle(emu, world)
    ask(emu, "OUTP ON")
    ask(emu, "*RST")
    assert not emu.emission_on and not emu.tec_on
    assert ask(emu, "SOUR:CURR?;:SOUR:FUNC:MODE?;:SOUR2:TEMP?") == (
        b"0.000000E+00;CURR;2.500000E+01\n"
    )
    assert world.sample.power_W == 0.0


def test_constant_power_mode(emu, world):
    ask(emu, "SOUR:FUNC:MODE POW;:SOUR:POW 0.75")
    settle(emu, world)
    ask(emu, "OUTP ON")
    assert emu.optical_power_W == pytest.approx(0.75)
    assert float(ask(emu, "MEAS:CURR?")) == pytest.approx(1.25)
    ask(emu, "SOUR:FUNC:MODE CURR")  # refused while lasing
    assert next_error(emu).startswith(b'-221,"Settings conflict;switch the LD output off')
    assert ask(emu, "SOUR:FUNC:MODE?") == b"POW\n"
    ask(emu, "SOUR:POW 4")  # above what the current limit can give (3.5 W)
    assert next_error(emu).startswith(b"-222,")


def test_works_without_a_world():
    emu = ITC4000Emulator(None, name="bare")
    assert ask(emu, "MEAS:TEMP?") == b"2.200000E+01\n"
    ask(emu, "OUTP2 ON;:OUTP ON")
    assert next_error(emu).startswith(b"-221,")  # time does not pass: never settles


def test_constructor_checks_limit():
    with pytest.raises(ConfigError, match="current_limit_A"):
        ITC4000Emulator(None, name="bad", current_limit_A=6.0)


def test_heats_the_project_vial_sample_only_while_lasing():
    from labctl.simulators.physics.sample import make_sample

    clock = SimClock("lockstep", start=0.0)
    world = SimWorld(clock, make_sample("vial"), seed=0)
    emu = ITC4000Emulator(world, name="laser")
    where = world.sample.positions[0]
    settle(emu, world)
    t0 = world.temperature(where)
    clock.advance(60.0)
    assert world.temperature(where) == pytest.approx(t0, abs=0.2)  # TEC on, LD off: no light
    ask(emu, "SOUR:CURR 1.5;:OUTP ON")
    clock.advance(60.0)
    assert world.temperature(where) > t0 + 1.0


# -- nodes used by public client code on real units ----------------------------------------
def lase(emu, world) -> None:
    """TEC on and settled, then LD on."""
    settle(emu, world)
    assert ask(emu, "OUTP ON") == b""
    assert emu.ld_on, next_error(emu)


OPENWATER_QCW = (  # the order Openwater's ITC4001/ITC4020 script configures a pulsed laser
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
    "SOUR:CURR:LIM 3.1",
    "SOUR:CURR 3",
    "OUTP:DEL 1",
)


def test_client_settings_leave_no_error(emu):
    for line in OPENWATER_QCW:
        assert ask(emu, line) == b"", line
    assert next_error(emu) == b'+0,"No error"\n'
    replies = {
        "SOUR2:FUNC?": b"TEMP\n",
        "SOUR:FUNC:SHAP?": b"PULS\n",
        "TRIG:SOUR?": b"EXT\n",
        "SOUR:PULS:WIDT?": b"1.000000E-04\n",
        "SOUR:PULS:PER?": b"3.300000E-02\n",
        "SOUR:PULS:HOLD?": b"WIDT\n",
        "OUTP:PROT:EXT?": b"PROT\n",
        "OUTP:DEL?": b"1.000000E+00\n",
        "SOURCE2:FUNCTION:MODE?": b"TEMP\n",
    }
    for query, reply in replies.items():
        assert ask(emu, query) == reply, query
    assert next_error(emu) == b'+0,"No error"\n'


def test_sour_temp_is_the_tec_setpoint(emu):
    assert ask(emu, "SOUR:TEMP 30") == b""
    assert ask(emu, "SOUR2:TEMP?") == b"3.000000E+01\n"
    assert ask(emu, "SOUR:TEMP?") == b"3.000000E+01\n"


def test_save_and_recall(emu):
    for line in ("SOUR:CURR 1.2", "SOUR2:TEMP 27", "OUTP:DEL 0.5", "*SAV 3"):
        ask(emu, line)
    for line in ("SOUR:CURR 0.3", "SOUR2:TEMP 20", "OUTP:DEL 0", "*RCL 3"):
        ask(emu, line)
    assert ask(emu, "SOUR:CURR?;:SOUR2:TEMP?;:OUTP:DEL?") == (
        b"1.200000E+00;2.700000E+01;5.000000E-01\n"
    )
    assert next_error(emu) == b'+0,"No error"\n'
    ask(emu, "*SAV 10")
    assert next_error(emu).startswith(b"-222,")


def test_recall_refused_while_lasing(emu, world):
    lase(emu, world)
    ask(emu, "*RCL 0")
    assert next_error(emu).startswith(b"-221,")
    assert emu.ld_on


def test_ld_voltage_from_the_diode_model(emu, world):
    assert ask(emu, "MEAS:VOLT?") == b"0.000000E+00\n"  # no current, no voltage
    ask(emu, "SOUR:CURR 2")
    lase(emu, world)
    volts = float(ask(emu, "MEAS:VOLT?"))
    assert volts == pytest.approx(1239.84198 / 808 + 0.15 * 2.0, rel=1e-6)


def test_qcw_feeds_the_average_power_to_the_sample(emu, world):
    ask(emu, "SOUR:CURR 2.5")  # 2 W peak
    for line in ("SOUR:PULS:PER 0.2", "SOUR:PULS:WIDT 0.05", "TRIG:SOUR INT"):
        ask(emu, line)
    ask(emu, "SOUR:FUNC:SHAP PULS")
    lase(emu, world)
    assert world.sample.power_W == pytest.approx(0.5)  # 2 W x 25 % duty
    assert float(ask(emu, "MEAS:POW2?")) == pytest.approx(0.5)
    ask(emu, "SOUR:PULS:HOLD DCYC")
    ask(emu, "SOUR:PULS:PER 0.1")  # the duty cycle is kept: width 25 ms
    assert ask(emu, "SOUR:PULS:WIDT?") == b"2.500000E-02\n"
    assert world.sample.power_W == pytest.approx(0.5)
    ask(emu, "TRIG:SOUR EXT")  # no external trigger wired: no pulses
    assert world.sample.power_W == 0.0
    ask(emu, "SOUR:FUNC:SHAP DC")
    assert world.sample.power_W == pytest.approx(2.0)


def test_width_longer_than_the_period_is_refused(emu):
    ask(emu, "SOUR:PULS:PER 0.01")
    ask(emu, "SOUR:PULS:WIDT 0.02")
    assert next_error(emu).startswith(b"-222,")
    ask(emu, "SOUR:PULS:WIDT 0.005")
    ask(emu, "SOUR:PULS:PER 0.001")  # hold width: the period cannot go below it
    assert next_error(emu).startswith(b"-221,")


def test_on_delay_holds_the_light_back(emu, world):
    ask(emu, "SOUR:CURR 1.5")
    ask(emu, "OUTP:DEL 0.5")
    lase(emu, world)
    assert emu.ld_on and world.sample.power_W == 0.0
    world.clock.advance(0.5)
    assert world.sample.power_W == pytest.approx(1.0)


def test_tec_current_mode_does_not_regulate(emu, world):
    ask(emu, "SOUR2:FUNC CURR")
    ask(emu, "SOUR2:TEMP 30;:OUTP2:STAT ON")
    world.clock.advance(60.0)
    assert emu.tec_temperature_C == pytest.approx(22.0, abs=0.1)  # ambient
