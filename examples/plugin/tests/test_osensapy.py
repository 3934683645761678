"""OSENSA's own client, ``osensapy.Transmitter``, reads the emulator over a serial link."""

from __future__ import annotations

import pytest
from labctl_osensa.emulator import OsensaFTXEmulator
from osensapy.osensapy import Transmitter

from labctl.core.clock import SimClock
from labctl.simulators.physics.probes import FiberProbe
from labctl.simulators.physics.world import SimWorld
from labctl.testing import TableSample
from labctl.testing.pty_bridge import PtyBridge

NOISE_C = 0.05


@pytest.fixture
def transmitter():
    clock = SimClock(start=1_000_000.0)
    sample = TableSample(tumor=42.63, rectal=37.21)
    world = SimWorld(clock, sample, seed=11)
    probes = {1: FiberProbe("tumor", noise_C=NOISE_C), 2: FiberProbe("rectal", noise_C=NOISE_C)}
    emu = OsensaFTXEmulator(world, name="thermo", probes=probes, serial=20230417)
    with PtyBridge(emu.write, emu.read) as port:
        tx = Transmitter(port, 40, timeout=1.0)
        try:
            yield tx, sample
        finally:
            tx.close()


def test_serial_number(transmitter):
    tx, _ = transmitter
    assert tx.read_serial_number() == 20230417


def test_fast_and_full_temperatures_match_the_sample(transmitter):
    tx, sample = transmitter
    tolerance = 5 * NOISE_C + 0.1  # noise and the 0.1 C steps of the probe and registers
    fast = tx.fast_batch(3)
    assert [(ch, status) for ch, _, status in fast] == [("A", 0), ("B", 0), ("C", 1)]
    assert fast[0][1] == pytest.approx(sample.T["tumor"], abs=tolerance)
    assert fast[1][1] == pytest.approx(sample.T["rectal"], abs=tolerance)
    assert tx.read_channel_temp("A") == pytest.approx(sample.T["tumor"], abs=tolerance)
    temperature, decay, light, led, status = tx.read_channel_data("B")
    assert temperature == pytest.approx(sample.T["rectal"], abs=tolerance)
    assert (status, led) == (0, 25) and decay > 0 and light > 0
    assert tx.read_channel_status("C") == 1
    assert tx.read_pcb_temp() == pytest.approx(25.0, abs=0.1)
