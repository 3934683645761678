"""OSENSA FTX emulator: the register map over a sample, through the plugin's driver."""

from __future__ import annotations

import pytest
from labctl_osensa import OsensaFTX
from labctl_osensa.emulator import UPDATE_S, OsensaFTXEmulator, decay_time_us

from labctl.core.clock import SimClock
from labctl.core.errors import ConfigError
from labctl.core.transport import open_transport
from labctl.devices import FiberOpticThermometer
from labctl.simulators.physics.probes import FiberProbe
from labctl.simulators.physics.world import SimWorld
from labctl.testing import TableSample

H = bytes.fromhex


@pytest.fixture
def rig():
    clock = SimClock(start=1_000_000.0)
    sample = TableSample(tumor=41.37, rectal=37.0)
    world = SimWorld(clock, sample, seed=5)
    probes = {
        1: FiberProbe("tumor", tau_s=0.0, noise_C=0.0, resolution_C=0.0),
        2: FiberProbe("rectal", noise_C=0.0),
    }
    emu = OsensaFTXEmulator(world, name="thermo", probes=probes, serial=12345678)
    transport = open_transport("sim://thermo", sims={"thermo": emu})
    return clock, sample, emu, OsensaFTX(transport, clock=clock)


def test_serial_number_and_fast_temperatures(rig):
    clock, sample, emu, ftx = rig
    ftx.initialize()
    assert ftx.serial_number() == 12345678
    # channel 3 has no probe: status digit 1
    assert ftx.read_temperatures() == {1: 41.4, 2: 37.0, 3: None}


def test_block_matches_the_sample_at_full_resolution(rig):
    clock, sample, emu, ftx = rig
    data = ftx.read_block(1)
    assert data.temperature_C == pytest.approx(41.37, abs=2e-5)
    assert data.status == 0
    assert data.decay_us == pytest.approx(decay_time_us(41.37), abs=1e-4)


def test_decay_time_and_light_fall_as_the_probe_warms(rig):
    clock, sample, emu, ftx = rig
    assert decay_time_us(25.0) == pytest.approx(3500.0 / 1.5)
    cold = ftx.read_block(1)
    sample.T["tumor"] = 60.0
    clock.advance(10.0)
    hot = ftx.read_block(1)
    assert hot.temperature_C == pytest.approx(60.0, abs=1e-3)
    assert hot.decay_us < cold.decay_us
    assert hot.light_level < cold.light_level


def test_missing_and_broken_probes_read_no_signal(rig):
    clock, sample, emu, ftx = rig
    assert ftx.probe_status() == {1: "ok", 2: "ok", 3: "no probe"}
    emu.channel_data(2)  # measured once before the fiber breaks
    emu.probes[2].broken = True
    clock.advance(UPDATE_S)
    block = ftx.read_block(2)
    assert (block.status, block.temperature_C + 273.0, block.light_level) == (1, 0.0, 12)
    assert ftx.read_channel(2) is None
    assert ftx.probe_status()[2] == "no probe"


def test_out_of_range_reading_has_status_2(rig):
    clock, sample, emu, ftx = rig
    sample.T["tumor"] = 300.0
    assert ftx.read_block(1).status == 2
    assert ftx.probe_status()[1] == "fault"


def test_frames_with_a_bad_crc_or_for_another_slave_get_no_reply(rig):
    clock, sample, emu, ftx = rig
    emu.write(H("28 03 00 02 00 02 62 33"))  # CRC off by one bit
    assert emu.read() == b""
    emu.write(H("f7 03 04 00 00 01 91 ac"))  # slave 247
    assert emu.read() == b""
    emu.write(H("28 03 00 02 00 02 62"))  # arrives in two pieces
    assert emu.read() == b""
    emu.write(H("32"))
    assert emu.read() == H("28 03 04 00 bc 61 4e 2a b1")


def test_outside_the_map_and_writes_are_refused(rig):
    clock, sample, emu, ftx = rig
    emu.write(H("28 03 00 64 00 01 c2 2c"))  # register 100
    assert emu.read() == H("28 83 02 11 39")
    emu.write(H("28 10 00 0a 00 01 02 00 07 14 a9"))  # device id = 7, no unlock
    assert emu.read() == H("28 90 01 5c 08")


def test_a_fiber_optic_thermometer_works_on_top(rig):
    clock, sample, emu, ftx = rig
    thermo = FiberOpticThermometer(ftx, roles={1: "tumor", 2: "rectal"}, clock=clock, name="t")
    thermo.trigger().wait(timeout=5)
    reading = thermo.read()
    assert reading["t_tumor"]["value"] == pytest.approx(41.4)
    assert reading["t_rectal_status"]["value"] == "ok"
    assert thermo.enclosure_temperature.get() == pytest.approx(25.0, abs=0.1)


def test_registered_under_its_entry_point_names():
    from labctl.kinds.plugins import driver_class, emulator_class
    from labctl.testing import make_emulator

    assert driver_class("osensa_ftx") is OsensaFTX
    assert emulator_class(OsensaFTX, "osensa_ftx") is OsensaFTXEmulator
    emu, _ = make_emulator("osensa_ftx", TableSample(tumor=40.0), probes={}, serial=7)
    assert isinstance(emu, OsensaFTXEmulator) and emu.serial == 7


def test_configuration_errors():
    world = SimWorld(SimClock(), TableSample(tumor=37.0))
    with pytest.raises(ConfigError, match="1, 3 or 6"):
        OsensaFTXEmulator(world, name="x", probes={}, transmitter_channels=2)
    with pytest.raises(ConfigError, match=r"\[4\]"):
        OsensaFTXEmulator(world, name="x", probes={4: FiberProbe("tumor")})
