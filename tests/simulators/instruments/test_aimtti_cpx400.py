"""CPX400 + resonant coil emulator: supply behaviour and the field it hands the world."""

from __future__ import annotations

import pytest

from labctl.core.clock import SimClock
from labctl.core.errors import ConfigError, InterlockError
from labctl.core.transport import open_transport
from labctl.devices.drivers.resonant_coil import ResonantCoilCPX400
from labctl.simulators.instruments.aimtti_cpx400 import CPX400CoilEmulator
from labctl.simulators.physics.world import SimWorld

BANK = {"200nF": 152600.0, "88nF": 230000.0}
K2 = {"200nF": 4.0, "88nF": 5.0}
COIL = {"turns": 18, "length_mm": 54, "inner_radius_mm": 13, "outer_radius_mm": 23}


class FieldSample:
    """Records the field the emulator sets (SampleModel protocol)."""

    def __init__(self) -> None:
        self.t_s = 0.0
        self.amf = (0.0, 0.0)

    positions = ("tumor",)

    def advance(self, dt_s: float) -> None:
        self.t_s += dt_s

    def set_amf(self, frequency_Hz: float, field_A_m: float) -> None:
        self.amf = (frequency_Hz, field_A_m)

    def set_laser(self, power_W: float, wavelength_nm: float, spot_area_cm2: float) -> None:
        pass

    def temperature(self, position: str) -> float:
        return 37.0

    def truth(self) -> dict:
        return {}


@pytest.fixture
def rig():
    clock = SimClock(start=1000.0)
    sample = FieldSample()
    world = SimWorld(clock, sample)
    emu = CPX400CoilEmulator(
        world,
        name="amf",
        coil_calibration={230000: 0.277, 152600: 0.277},
        capacitor_bank=BANK,
        capacitor="88nF",
        k2=K2,
    )
    return clock, sample, emu


def ask(emu, text: str) -> bytes:
    emu.write(text.encode() + b"\n")
    return emu.read()


def test_plain_client_sequence(rig):
    _, sample, emu = rig
    assert ask(emu, "*IDN?") == b"THURLBY THANDAR, CPX400DP, 512345, 2.03-1.00-1.01\r\n"
    assert ask(emu, "V1 12") == b""
    assert ask(emu, "I1 5") == b""
    assert ask(emu, "OP1 1") == b""
    # 12 V into 2.5 ohm wants 4.8 A, below the 5 A limit: constant voltage
    assert ask(emu, "V1O?") == b"12.00V\r\n"
    assert ask(emu, "I1O?") == b"4.800A\r\n"
    assert ask(emu, "LSR1?") == b"1\r\n"
    assert ask(emu, "V1?") == b"V1 12.00\r\n" and ask(emu, "I1?") == b"I1 5.000\r\n"
    assert sample.amf == (230000.0, pytest.approx(0.277 * 5.0 * 4.8 * 1e3))


def test_constant_current_and_output_off(rig):
    _, sample, emu = rig
    for cmd in ("V1 60", "I1 8", "OP1 1"):
        ask(emu, cmd)
    assert ask(emu, "V1O?") == b"20.00V\r\n" and ask(emu, "LSR1?") == b"2\r\n"
    assert emu.coil_current_A() == pytest.approx(40.0)
    ask(emu, "OP1 0")
    assert ask(emu, "I1O?") == b"0.000A\r\n" and sample.amf[1] == 0.0


def test_over_current_trip_latches_until_triprst(rig):
    _, sample, emu = rig
    for cmd in ("V1 60", "I1 8", "OCP1 6", "OP1 1"):
        ask(emu, cmd)
    assert ask(emu, "OP1?") == b"0\r\n" and ask(emu, "LSR1?") == b"8\r\n"
    assert sample.amf[1] == 0.0
    ask(emu, "OP1 1")  # refused while latched
    assert ask(emu, "OP1?") == b"0\r\n"
    ask(emu, "TRIPRST")
    assert ask(emu, "LSR1?") == b"0\r\n"


def test_over_voltage_trip(rig):
    _, _, emu = rig
    for cmd in ("V1 30", "OVP1 25", "I1 20", "OP1 1"):
        ask(emu, cmd)
    assert ask(emu, "LSR1?") == b"4\r\n"


def test_range_and_command_errors(rig):
    _, _, emu = rig
    ask(emu, "V1 61")
    assert ask(emu, "EER?") == b"100\r\n" and ask(emu, "EER?") == b"0\r\n"
    assert ask(emu, "V1?") == b"V1 1.00\r\n"
    assert ask(emu, "VOLT 3") == b""
    assert ask(emu, "*ESR?") == b"32\r\n"


def test_output_2_is_open_circuit_and_crlf_is_accepted(rig):
    _, _, emu = rig
    emu.write(b"V2 5\r\nOP2 1\r\nI2O?\r\n")
    assert emu.read() == b"0.000A\r\n"


def test_driver_against_the_emulator_trips_into_an_interlock_error(rig):
    clock, sample, emu = rig
    transport = open_transport("sim://amf", sims={"amf": emu})
    drv = ResonantCoilCPX400(
        transport, coil=COIL, capacitor_bank=BANK, capacitor="88nF", k2=K2, clock=clock
    )
    drv.take_control()
    drv.set_current(40.0)
    drv.heat_on()
    st = drv.wait_for_current(1.0, 5.0)
    assert st.current_A == pytest.approx(40.0) and st.power_W == pytest.approx(160.0)
    assert sample.amf[1] == pytest.approx(0.277 * 40.0 * 1e3)
    emu.surge()
    assert sample.amf[1] == 0.0
    with pytest.raises(InterlockError, match="output went off.*POWER_ALARM"):
        drv.wait_for_current(1.0, 5.0)
    with pytest.raises(InterlockError, match="over-current trip latched"):
        drv.heat_on()
    assert drv.clear_faults() == 0
    drv.heat_on()
    assert drv.wait_for_current(1.0, 5.0).heating


def test_capacitor_without_calibration_is_a_config_error():
    world = SimWorld(SimClock(), FieldSample())
    with pytest.raises(ConfigError, match="coil_calibration"):
        CPX400CoilEmulator(
            world, name="amf", coil_calibration={1e5: 0.2}, capacitor_bank=BANK,
            capacitor="88nF", k2=K2,
        )  # fmt: skip
