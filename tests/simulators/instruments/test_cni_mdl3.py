"""CNI MDL-III emulator: frames, the switch-on pause, the ceiling and the light."""

from __future__ import annotations

import pytest

from labctl.core.clock import SimClock
from labctl.core.errors import TransportError
from labctl.core.transport import open_transport
from labctl.devices.drivers.cni_mdl3 import CNIMDL3, power_frame
from labctl.simulators.instruments.cni_mdl3 import CNIMDL3Emulator
from labctl.simulators.physics.world import SimWorld

ON = bytes.fromhex("55 aa 03 01 04")
OFF = bytes.fromhex("55 aa 03 00 03")


class LightSample:
    """Records the light the emulator sets (SampleModel protocol)."""

    positions = ("tumor",)

    def __init__(self) -> None:
        self.t_s = 0.0
        self.laser = (0.0, 0.0, 0.0)

    def advance(self, dt_s: float) -> None:
        self.t_s += dt_s

    def set_amf(self, frequency_Hz: float, field_A_m: float) -> None:
        pass

    def set_laser(self, power_W: float, wavelength_nm: float, spot_area_cm2: float) -> None:
        self.laser = (power_W, wavelength_nm, spot_area_cm2)

    def temperature(self, position: str) -> float:
        return 37.0

    def truth(self) -> dict:
        return {}


@pytest.fixture
def rig():
    clock = SimClock(start=0.0)
    sample = LightSample()
    emu = CNIMDL3Emulator(
        SimWorld(clock, sample),
        name="laser",
        wavelength_nm=808,
        spot_diameter_mm=8,
        slope_W_per_A=1 / 1.05531,
        threshold_A=0.28916859,
        current_limit_A=3.0,
    )
    return clock, sample, emu


def test_on_then_power_after_the_pause(rig):
    clock, sample, emu = rig
    emu.write(ON)
    assert emu.read() == ON and emu.emission
    clock.advance(0.010)
    emu.write(power_frame(1000))
    assert emu.read() == power_frame(1000)
    assert sample.laser[0] == pytest.approx(1.0, rel=1e-6)
    assert sample.laser[1:] == (808.0, pytest.approx(0.50265, rel=1e-4))
    emu.write(OFF)
    assert emu.read() == OFF and sample.laser[0] == 0.0


def test_power_sent_too_soon_after_on_does_nothing(rig):
    clock, sample, emu = rig
    emu.write(ON + power_frame(1000))
    assert emu.read() == ON + power_frame(1000)
    assert emu.power_mW == 0 and sample.laser[0] == 0.0


def test_ceiling_and_bad_frames(rig):
    clock, sample, emu = rig
    emu.write(power_frame(3000))
    assert emu.power_mW == 2300
    emu.read()
    emu.write(bytes.fromhex("55 aa 03 01 05"))  # bad checksum
    emu.write(bytes.fromhex("00 13 55"))  # noise, then half a header
    emu.write(bytes.fromhex("aa 03 01"))
    assert emu.read() == b"" and not emu.emission
    emu.write(bytes.fromhex("04"))
    assert emu.read() == ON and emu.emission


def test_driver_switches_the_laser_on_at_its_power(rig):
    clock, sample, emu = rig
    drv = CNIMDL3(open_transport("sim://laser", sims={"laser": emu}), clock=clock)
    drv.set_current_A(CNIMDL3.current_for_power_mW(1500.5))
    drv.laser_on()
    assert emu.power_mW == 1500 and sample.laser[0] == pytest.approx(1.5, rel=1e-6)
    emu.silent = True
    with pytest.raises(TransportError, match="no echo"):
        drv.laser_off()
