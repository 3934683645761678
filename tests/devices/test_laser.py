"""The Laser device on the ITC4000 driver against the in-process emulator (lockstep clock)."""

from __future__ import annotations

import math

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import pytest
from bluesky import RunEngine

from labctl.core.clock import SimClock, install_sleep_handler
from labctl.core.errors import InstrumentError, InterlockError, LimitError
from labctl.core.limits import BenchLimits, skin_mpe_W_cm2
from labctl.core.transport import open_transport
from labctl.devices.drivers.thorlabs_itc4000 import ThorlabsITC4000
from labctl.devices.laser import Laser, LaserDriver, spot_area_cm2
from labctl.simulators.instruments.thorlabs_itc4000 import ITC4000Emulator
from labctl.simulators.physics.world import SimWorld

AREA = math.pi * 0.4**2  # 8 mm spot, cm^2


class LumpedVial:
    """Minimal lumped sample, C dT/dt = eta P - L (T - T_amb) (PHYSICS.md section 2)."""

    def __init__(self):
        self.t_s, self.T, self.power_W = 0.0, 22.0, 0.0
        self.absorbed_J = 0.0

    @property
    def positions(self):
        return ("vial",)

    def advance(self, dt_s):
        self.absorbed_J += 0.5 * self.power_W * dt_s
        t_inf = 22.0 + 0.5 * self.power_W / 0.02
        self.T = t_inf + (self.T - t_inf) * math.exp(-dt_s * 0.02 / 4.2)
        self.t_s += dt_s

    def set_amf(self, frequency_Hz, field_A_m):
        pass

    def set_laser(self, power_W, wavelength_nm, spot_area_cm2):
        self.power_W = power_W

    def temperature(self, position):
        return self.T

    def truth(self):
        return {"absorbed_J": self.absorbed_J}


class Bench:
    def __init__(self, clock=None, **emulator_options):
        self.clock = clock if clock is not None else SimClock("lockstep", start=1000.0)
        self.world = SimWorld(self.clock, LumpedVial(), seed=3)
        self.emulator = ITC4000Emulator(self.world, name="laser", **emulator_options)
        self.transport = open_transport("sim://laser", sims={"laser": self.emulator}, log=True)
        self.driver = ThorlabsITC4000(self.transport, clock=self.clock)
        self.laser = Laser(
            self.driver,
            wavelength_nm=808.0,
            spot_diameter_mm=8.0,
            slope_W_per_A=1.0,
            threshold_A=0.5,
            clock=self.clock,
            limits=BenchLimits(irradiance_max_W_cm2=2.0),
            name="laser",
        )

    def lase(self, power_W=0.5):
        self.laser.power.set(power_W).wait()
        self.laser.emission.set(1).wait()
        assert self.emulator.emission_on


@pytest.fixture
def bench(clock_factory):
    return Bench(clock=clock_factory(start=1000.0))


@pytest.fixture
def lockstep_bench():
    """(Exact virtual timings and interleavings: lockstep clock.)"""
    return Bench()


def test_driver_satisfies_the_laser_protocol(bench):
    assert isinstance(bench.driver, LaserDriver)


def test_power_sets_the_current_from_the_pi_calibration(bench):
    bench.laser.power.set(0.9).wait()
    assert bench.emulator.current_setpoint_A == pytest.approx(1.4)
    assert bench.emulator.mode == "CURR"
    bench.laser.power.set(0.0).wait()
    assert bench.emulator.current_setpoint_A == 0.0
    bench.laser.irradiance.set(1.0).wait()
    assert bench.emulator.current_setpoint_A == pytest.approx(0.5 + AREA, rel=1e-5)
    assert bench.laser.power_setpoint.get() == pytest.approx(AREA, rel=1e-5)


def test_emission_on_follows_the_safe_sequence_and_reads_back(bench):
    bench.lase(0.8)
    assert bench.emulator.tec_on
    assert abs(bench.emulator.tec_temperature_C - 25.0) < 0.15
    assert bench.clock.elapsed > 3.0  # the driver waited for the TEC in virtual time
    assert bench.laser.emission.get() == 1
    assert bench.laser.power.get() == pytest.approx(0.8)
    assert bench.laser.irradiance.get() == pytest.approx(0.8 / AREA)
    assert bench.laser.current.get() == pytest.approx(1.3)
    assert bench.world.sample.power_W == pytest.approx(0.8)
    assert bench.laser.interlock.get() == 0 and bench.laser.keylock.get() == 0


def test_emission_with_interlock_open_fails_clearly(bench):
    bench.laser.power.set(0.5).wait()
    bench.emulator.set_interlock(False)
    with pytest.raises(InterlockError, match="interlock circuit is open"):
        bench.laser.emission.set(1).wait()
    assert not bench.emulator.emission_on
    assert b"OUTP:STAT ON\n" not in bench.transport.log.sent()
    assert bench.laser.interlock.get() == 1


def test_emission_with_keylock_off_fails_clearly(bench):
    bench.emulator.set_keylock(False)
    with pytest.raises(InterlockError, match="keylock is off"):
        bench.laser.emission.set(1).wait()
    assert not bench.emulator.emission_on


def test_ld_on_with_the_tec_off_is_refused_by_the_controller(bench):
    """Bypassing the driver's sequence: the instrument itself refuses, state stays 0."""
    assert not bench.emulator.tec_on
    with pytest.raises(InstrumentError, match="TEC output off") as info:
        bench.driver._set_ld_output(True)
    assert info.value.code == -221
    assert not bench.emulator.emission_on and bench.driver.get_emission() is False


def test_emission_fails_if_the_tec_cannot_settle():
    bench = Bench(tec_tau_s=500.0)  # a TEC far too weak for its load
    bench.driver.settle_timeout_s = 20.0
    with pytest.raises(InterlockError, match="TEC not settled within 20 s"):
        bench.laser.emission.set(1).wait()
    assert not bench.emulator.emission_on
    assert bench.world.sample.power_W == 0.0


def test_interlock_opening_while_lasing_turns_emission_off_and_reports_the_trip(bench):
    bench.lase(0.5)
    bench.emulator.set_interlock(False)
    assert not bench.emulator.emission_on
    assert bench.world.sample.power_W == 0.0
    assert bench.driver.trips() == {"interlock": True, "keylock": False, "overtemperature": False}
    assert bench.laser.emission.get() == 0
    assert bench.laser.interlock.get() == 1
    bench.emulator.set_interlock(True)
    assert bench.driver.trips()["interlock"]  # latched until acknowledged
    with pytest.raises(InterlockError, match="clear_trips"):
        bench.laser.emission.set(1).wait()
    bench.driver.clear_trips()
    bench.laser.emission.set(1).wait()
    assert bench.emulator.emission_on


@pytest.mark.parametrize(
    "signal, value",
    [("irradiance", 3.0), ("power", 2.0), ("power", -0.1), ("irradiance", float("nan"))],
)
def test_setpoint_above_the_limit_raises_before_any_byte(bench, signal, value):
    bench.transport.log.clear()
    with pytest.raises(LimitError, match="nothing was sent|negative|finite"):
        getattr(bench.laser, signal).set(value)
    assert bench.transport.log.sent() == []
    assert bench.emulator.current_setpoint_A == 0.0


def test_emission_refused_if_the_setpoint_exceeds_the_limit(bench):
    bench.laser.limits = BenchLimits(irradiance_max_W_cm2=0.5)
    bench.emulator.write(b"SOUR:CURR 2\n")  # 1.5 W set on the front panel: ~3 W/cm^2
    bench.transport.log.clear()
    with pytest.raises(LimitError, match="exceeds the bench limit"):
        bench.laser.emission.set(1).wait()
    assert not bench.emulator.emission_on
    assert b"OUTP:STAT ON\n" not in bench.transport.log.sent()


def test_power_limit_also_applies(bench):
    bench.laser.limits = BenchLimits(laser_power_max_W=0.3)
    bench.transport.log.clear()
    with pytest.raises(LimitError):
        bench.laser.power.set(0.4)
    assert bench.transport.log.sent() == []


@pytest.mark.parametrize("action", ["stop", "unstage"])
def test_stop_and_unstage_switch_emission_off(bench, action):
    bench.lase(0.5)
    if action == "unstage":
        bench.laser.stage()
    getattr(bench.laser, action)()
    assert not bench.emulator.emission_on
    assert bench.emulator.optical_power_W == 0.0
    assert bench.world.sample.power_W == 0.0


def test_describe_carries_units_and_configuration(bench):
    desc = bench.laser.describe()
    assert desc["laser_power"]["units"] == "W"
    assert desc["laser_irradiance"]["units"] == "W/cm^2"
    assert desc["laser_current"]["units"] == "A"
    assert desc["laser_tec_temperature"]["units"] == "degC"
    config = bench.laser.read_configuration()
    assert config["laser_wavelength"]["value"] == 808.0
    assert config["laser_spot_area"]["value"] == pytest.approx(spot_area_cm2(8.0))
    assert config["laser_mpe"]["value"] == pytest.approx(skin_mpe_W_cm2(808.0))
    assert bench.laser.mpe_W_cm2 == pytest.approx(0.2 * 10 ** (0.002 * 108))
    assert bench.laser.describe_configuration()["laser_mpe"]["units"] == "W/cm^2"


def test_one_compound_query_per_trigger(bench):
    bench.lase(0.5)
    bench.transport.log.clear()
    bench.laser.trigger().wait()
    reading = bench.laser.read()
    assert len(bench.transport.log.sent()) == 1
    assert reading["laser_power"]["value"] == pytest.approx(0.5)
    assert reading["laser_emission"]["value"] == 1
    assert reading["laser_power_setpoint"]["value"] == pytest.approx(0.5)
    assert reading["laser_tec_temperature"]["value"] == pytest.approx(25.0, abs=0.15)
    bench.laser.read()  # the snapshot is used once: a second read asks again
    assert len(bench.transport.log.sent()) > 1


def test_stale_snapshot_is_not_used(bench):
    bench.laser.trigger().wait()
    bench.clock.sleep(5.0)
    bench.transport.log.clear()
    bench.laser.power.get()
    assert bench.transport.log.sent() == [b"MEAS:POW2?\n"]


def test_bluesky_plans(lockstep_bench):
    bench = lockstep_bench
    RE = RunEngine({}, context_managers=[])
    install_sleep_handler(RE, bench.clock)
    docs = []
    RE.subscribe(lambda name, doc: docs.append((name, doc)))

    def plan():
        yield from bps.mv(bench.laser.power, 0.6)
        yield from bps.mv(bench.laser.emission, 1)
        yield from bps.sleep(30)
        yield from bp.count([bench.laser], num=3)

    RE(plan())
    # bp.count staged and unstaged the laser: emission is off at the end
    assert not bench.emulator.emission_on
    assert bench.world.sample.truth()["absorbed_J"] == pytest.approx(0.5 * 0.6 * 30, rel=0.05)
    events = [d for n, d in docs if n == "event"]
    assert len(events) == 3
    assert all(e["data"]["laser_power"] == pytest.approx(0.6) for e in events)
    descriptor = next(d for n, d in docs if n == "descriptor")
    assert descriptor["data_keys"]["laser_irradiance"]["units"] == "W/cm^2"


def test_runengine_refuses_an_unsafe_move_before_any_byte(bench):
    RE = RunEngine({}, context_managers=[])
    bench.transport.log.clear()
    with pytest.raises(LimitError):
        RE(bps.mv(bench.laser.irradiance, 5.0))
    sent = bench.transport.log.sent()
    # the refused setpoint sent nothing; the RunEngine's clean-up then stopped the laser,
    # which only switches off and checks
    assert not any(c.startswith((b"SOUR:CURR ", b"SOUR:CURR:LEV ")) for c in sent), sent
    assert not any(c.rstrip().endswith((b" ON", b" 1")) for c in sent), sent
    assert not bench.emulator.emission_on


def test_bad_calibration_is_rejected(bench):
    with pytest.raises(ValueError):
        Laser(
            bench.driver,
            wavelength_nm=808,
            spot_diameter_mm=0,
            slope_W_per_A=1,
            threshold_A=0.5,
            name="bad",
        )


def test_mpe_outside_the_tabulated_range_is_nan(bench):
    laser = Laser(
        bench.driver,
        wavelength_nm=1550,
        spot_diameter_mm=8,
        slope_W_per_A=1,
        threshold_A=0.5,
        clock=bench.clock,
        name="ir",
    )
    assert math.isnan(laser.mpe_W_cm2)


def test_laser_off_from_another_caller_cancels_a_switch_on_under_way(lockstep_bench):
    """A safety monitor switching the laser off during the TEC wait must win."""
    bench = lockstep_bench
    fired = []

    def monitor():
        task.cancel()
        bench.driver.laser_off()
        fired.append(bench.clock.elapsed)

    task = bench.clock.call_every(1.0, monitor)
    with pytest.raises(InterlockError, match="switch-on cancelled"):
        bench.laser.emission.set(1).wait()
    assert fired == [pytest.approx(1.0)]
    assert not bench.emulator.emission_on
    assert b"OUTP:STAT ON\n" not in bench.transport.log.sent()


def test_realtime_clock_runs_the_switch_on_in_a_worker_thread():
    clock = SimClock("realtime", speed=200.0)
    world = SimWorld(clock, LumpedVial(), seed=0)
    emulator = ITC4000Emulator(world, name="laser")
    transport = open_transport("sim://laser", sims={"laser": emulator})
    driver = ThorlabsITC4000(transport, clock=clock, poll_s=0.5)
    laser = Laser(
        driver,
        wavelength_nm=808,
        spot_diameter_mm=8,
        slope_W_per_A=1.0,
        threshold_A=0.5,
        clock=clock,
        name="laser",
    )
    laser.power.set(0.3).wait(timeout=10)
    laser.emission.set(1).wait(timeout=30)
    assert emulator.emission_on
    laser.stop()
    assert not emulator.emission_on
