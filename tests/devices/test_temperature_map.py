"""TemperatureMap: T90/T50/Tmax of a volume, stamped by the bench clock."""

from __future__ import annotations

import numpy as np
import pytest

from labctl.core.clock import SimClock
from labctl.devices.temperature_map import TemperatureMap, TemperatureMapDriver


class ShellMap:
    """A sphere in ten equal-thickness shells, hottest at the centre (volume ~ r^3)."""

    source = "test: shells of a sphere"
    simulation_only = False

    def __init__(self):
        r = np.linspace(0.0, 1.0, 11)
        self.volume = np.diff(r**3)
        self.T = 43.0 - 4.0 * (0.5 * (r[1:] + r[:-1])) ** 2

    def read_temperatures(self):
        return self.T, self.volume


def test_reads_volume_percentiles_on_the_bench_clock():
    clock = SimClock("lockstep", start=100.0)
    driver = ShellMap()
    assert isinstance(driver, TemperatureMapDriver)
    dev = TemperatureMap(driver, clock=clock, name="tumor_map")
    clock.advance(5.0)
    dev.trigger().wait(1)
    r = dev.read()
    # 90 % of the volume (hottest first) fills r < 0.9**(1/3) = 0.965: the last shell;
    # 50 % fills r < 0.794, the eighth
    assert r["tumor_map_T90"]["value"] == pytest.approx(driver.T[9])
    assert r["tumor_map_T50"]["value"] == pytest.approx(driver.T[7])
    assert r["tumor_map_Tmax"]["value"] == pytest.approx(driver.T[0])
    assert r["tumor_map_T90"]["timestamp"] == 105.0
    assert dev.describe()["tumor_map_T90"]["units"] == "degC"
    cfg = dev.read_configuration()
    assert cfg["tumor_map_simulation_only"]["value"] is False
    assert cfg["tumor_map_source"]["value"] == "test: shells of a sphere"
