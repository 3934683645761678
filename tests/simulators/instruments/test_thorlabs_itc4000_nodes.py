"""ITC4000 emulator: the nodes public client code sends to real units (Openwater,
photonmover, qtlab), and what they do to the sample."""

from __future__ import annotations

import pytest

from labctl.core.clock import SimClock
from labctl.simulators.instruments.thorlabs_itc4000 import ITC4000Emulator
from labctl.simulators.physics.world import SimWorld
from tests.simulators.instruments.test_thorlabs_itc4000 import (
    LumpedVial,
    ask,
    next_error,
    settle,
)


@pytest.fixture
def world():
    return SimWorld(SimClock("lockstep", start=1000.0), LumpedVial(), seed=1)


@pytest.fixture
def emu(world):
    return ITC4000Emulator(world, name="laser", tec_noise_C=0.0)


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
