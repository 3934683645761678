import math

import numpy as np
import pytest

from labctl.core.clock import SimClock
from labctl.simulators.physics.probes import FiberProbe
from labctl.simulators.physics.vial import Vial
from labctl.simulators.physics.world import SimWorld


class Scripted:
    """A sample whose temperature is a given function of its time."""

    def __init__(self, fn):
        self.fn = fn
        self.t_s = 0.0

    @property
    def positions(self):
        return ("tumor",)

    def advance(self, dt_s):
        self.t_s += dt_s

    def set_amf(self, frequency_Hz, field_A_m):
        pass

    def set_laser(self, power_W, wavelength_nm, spot_area_cm2):
        pass

    def temperature(self, position):
        return self.fn(self.t_s)

    def truth(self):
        return {}


def make_world(fn, seed=0):
    clock = SimClock(start=0.0)
    return clock, SimWorld(clock, Scripted(fn), seed=seed)


def exact_probe(**kw):
    return FiberProbe("tumor", noise_C=0.0, resolution_C=0.0, **kw)


def test_first_read_is_in_equilibrium():
    _, world = make_world(lambda t: 36.84)
    assert exact_probe().read(world) == pytest.approx(36.84)
    assert FiberProbe("tumor", noise_C=0.0).read(world) == pytest.approx(36.8)


def test_lag_is_exact_for_a_ramp_at_any_read_interval():
    slope, tau = 0.05, 0.5
    clock, world = make_world(lambda t: 37.0 + slope * t)
    probe = exact_probe(tau_s=tau)
    probe.read(world)
    for dt in (0.1, 0.37, 2.0, 0.05, 5.0):
        clock.advance(dt)
        t = clock.now()
        # y(t) for a probe in equilibrium at t = 0 on a ramp: T - s tau (1 - exp(-t/tau))
        expected = 37.0 + slope * t - slope * tau * (1 - math.exp(-t / tau))
        assert probe.read(world) == pytest.approx(expected, abs=1e-12)


def test_step_response_time_constant():
    clock, world = make_world(lambda t: 37.0 if t <= 0 else 42.0)
    probe = exact_probe(tau_s=0.5)
    probe.read(world)
    clock.advance(0.001)
    probe.read(world)
    for _ in range(499):
        clock.advance(0.001)
        value = probe.read(world)
    assert (value - 37.0) / 5.0 == pytest.approx(1 - math.exp(-1), abs=0.01)
    clock.advance(10.0)
    assert probe.read(world) == pytest.approx(42.0)


def test_quantisation_offset_and_noise_statistics():
    _, world = make_world(lambda t: 37.0)
    assert FiberProbe("tumor", noise_C=0.0, offset_C=0.3).read(world) == pytest.approx(37.3)
    q = FiberProbe("tumor", noise_C=0.05)
    values = np.array([q.read(world) for _ in range(2000)])
    np.testing.assert_allclose(values * 10, np.round(values * 10), atol=1e-9)
    noisy = FiberProbe("tumor", noise_C=0.05, resolution_C=0.0)
    raw = np.array([noisy.read(world) for _ in range(4000)])
    assert raw.std() == pytest.approx(0.05, rel=0.1)
    assert raw.mean() == pytest.approx(37.0, abs=0.005)


def test_deterministic_for_a_seed():
    def readings(seed):
        clock, world = make_world(lambda t: 37.0 + 0.01 * t, seed=seed)
        probe = FiberProbe("tumor")
        out = []
        for _ in range(50):
            clock.advance(1.0)
            out.append(probe.read(world))
        return out

    assert readings(7) == readings(7)
    assert readings(7) != readings(8)


def test_faults():
    clock, world = make_world(lambda t: 37.0 + t)
    probe = exact_probe()
    probe.broken = True
    assert probe.read(world) is None
    probe.broken = False
    probe.stuck_value = 25.0
    clock.advance(3.0)
    assert probe.read(world) == 25.0
    probe.stuck_value = None
    clock.advance(10.0)  # the lag kept running while stuck
    assert probe.read(world) == pytest.approx(37.0 + 13.0 - 0.5, abs=1e-3)
    with pytest.raises(ValueError):
        FiberProbe("tumor", tau_s=-1.0)


def test_reads_a_heating_vial():
    clock = SimClock(start=100.0)
    world = SimWorld(clock, Vial(), seed=2)
    probe = FiberProbe("sample")
    start = probe.read(world)
    world.set_amf(230e3, 8e3)
    clock.advance(60.0)
    assert probe.read(world) > start + 2.0
