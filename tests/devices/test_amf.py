"""AMFGenerator against the EASYHEAT emulator in process, on a lockstep and on a realtime
clock (``bench``); tests of exact virtual timings use the lockstep clock alone."""

from __future__ import annotations

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import bluesky.preprocessors as bpp
import pytest
from bluesky import RunEngine

from labctl.core.clock import SimClock, install_sleep_handler
from labctl.core.errors import InstrumentError, InterlockError, LimitError
from labctl.core.limits import HF_BREZOVICH, BenchLimits
from labctl.core.transport import open_transport
from labctl.devices.amf import AMFDriver, AMFFault, AMFGenerator
from labctl.devices.drivers.ambrell_easyheat import AmbrellEasyHeat
from labctl.simulators.instruments.ambrell_easyheat import AmbrellEasyHeatEmulator
from labctl.simulators.physics.world import SimWorld

CAL = {230e3: 0.040, 354e3: 0.035, 20e3: 0.050}  # Hz -> kA/m per A


class LumpedSample:
    """First-order vial: ``C dT/dt = a H^2 f - L (T - 25)``, C in J/K, L in W/K."""

    positions = ("vial",)

    def __init__(self) -> None:
        self.t_s, self.T, self.frequency_Hz, self.field_A_m = 0.0, 25.0, 0.0, 0.0

    def advance(self, dt_s: float) -> None:
        self.T += (
            dt_s * (1e-12 * self.field_A_m**2 * self.frequency_Hz - 0.05 * (self.T - 25.0)) / 10.0
        )
        self.t_s += dt_s

    def set_amf(self, frequency_Hz: float, field_A_m: float) -> None:
        self.frequency_Hz, self.field_A_m = frequency_Hz, field_A_m

    def set_laser(self, power_W, wavelength_nm, spot_area_cm2) -> None:
        pass

    def temperature(self, position: str) -> float:
        return self.T

    def truth(self) -> dict:
        return {}


def make_bench(limits: BenchLimits | None = None, clock=None, **emulator_options):
    clock = clock if clock is not None else SimClock(start=0.0)
    sample = LumpedSample()
    world = SimWorld(clock, sample)
    options = {"coil_calibration": CAL, "readback_noise": 0.0, **emulator_options}
    emu = AmbrellEasyHeatEmulator(world, name="amf", **options)
    transport = open_transport("sim://amf", sims={"amf": emu}, log=True)
    driver = AmbrellEasyHeat(transport, clock=clock)
    amf = AMFGenerator(driver, coil_calibration=CAL, clock=clock, limits=limits, name="amf")
    return clock, sample, emu, transport, amf


@pytest.fixture
def bench(clock_factory):
    return make_bench(clock=clock_factory())


@pytest.fixture
def lockstep_bench():
    return make_bench()


def test_driver_satisfies_the_protocol(bench):
    *_, amf = bench
    assert isinstance(amf.driver, AMFDriver)


def test_describe_carries_units(bench):
    *_, amf = bench
    desc = amf.describe()
    assert desc["amf_field"]["units"] == "kA/m"
    assert desc["amf_current"]["units"] == "A"
    assert desc["amf_power"]["units"] == "W"
    assert desc["amf_hf_product"]["units"] == "A m^-1 s^-1"
    assert amf.describe_configuration()["amf_frequency"]["units"] == "Hz"
    assert set(amf.hints["fields"]) == {"amf_field", "amf_power"}


def test_field_current_conversions(bench):
    *_, amf = bench
    assert amf.field_for_current(200, 230e3) == pytest.approx(8.0)
    assert amf.current_for_field(13 / 1.2566, 354e3) == pytest.approx(295.6, abs=0.1)
    assert amf.frequencies == (230e3, 354e3, 20e3)
    with pytest.raises(InstrumentError, match="no coil calibration"):
        amf.k(100e3)


def test_field_setpoint_above_hf_limit_sends_nothing(bench):
    """Acceptance: above the bench's H*f limit -> LimitError, no byte to the generator."""
    _, _, emu, transport, amf = bench
    amf.frequency.set(354e3).wait()
    assert emu.frequency_Hz == 354e3
    transport.log.clear()
    with pytest.raises(LimitError, match="H\\*f"):
        amf.field.set(15.0)  # 15 kA/m x 354 kHz = 5.3e9 > 5e9
    with pytest.raises(LimitError, match="H\\*f"):
        amf.current.set(450)  # 15.75 kA/m at 354 kHz
    with pytest.raises(LimitError):
        amf.field.put(15.0)
    assert transport.log.sent() == []
    assert emu.setpoint_A == 0.0 and not emu.heating


def test_field_limit_unknown_frequency_is_checked_at_every_tank():
    _, _, emu, transport, amf = make_bench()  # the emulator sits at 230 kHz
    with pytest.raises(LimitError):
        amf.field.set(15.0)  # allowed at 230 kHz, not at 354 kHz: not known yet
    assert transport.log.sent() == []
    amf.field.set(8.0).wait()
    assert emu.setpoint_A == pytest.approx(200.0)
    assert transport.log.sent()[-2:] == [b"1,amps,200\r", b"1,RDATA\r"]  # read back


def test_field_max_and_current_limits_send_nothing():
    limits = BenchLimits(amf_current_max_A=300.0)
    _, _, emu, transport, amf = make_bench(limits)
    amf.frequency.set(20e3).wait()
    transport.log.clear()
    with pytest.raises(LimitError, match="20 kA/m"):
        amf.field.set(21.0)
    with pytest.raises(LimitError, match="300 A"):
        amf.current.set(350)
    with pytest.raises(LimitError, match="300 A"):
        amf.field.set(16.0)  # 320 A at 20 kHz
    with pytest.raises(LimitError, match="negative"):
        amf.field.set(-1.0)
    assert transport.log.sent() == []


def test_frequency_must_be_a_calibrated_tank(bench):
    _, _, emu, transport, amf = bench
    with pytest.raises(LimitError, match="not an available frequency"):
        amf.frequency.set(100e3)
    assert transport.log.sent() == []
    amf.frequency.set(354e3).wait()
    assert amf.frequency.get() == 354e3
    assert amf.read_configuration()["amf_frequency"]["value"] == 354e3


def test_frequency_change_checks_hf_with_the_present_setpoint():
    _, _, emu, transport, amf = make_bench(BenchLimits(hf_max=HF_BREZOVICH))
    amf.frequency.set(20e3).wait()
    amf.current.set(100).wait()  # 5 kA/m x 20 kHz = 1e8
    transport.log.clear()
    with pytest.raises(LimitError, match="H\\*f"):
        amf.frequency.set(230e3)  # 4 kA/m x 230 kHz = 9.2e8 > 4.85e8
    assert transport.log.sent() == []
    assert emu.frequency_Hz == 20e3


def test_frequency_change_refused_while_output_on(bench):
    _, _, emu, transport, amf = bench
    amf.field.set(4.0).wait()
    amf.output.set(1).wait()
    transport.log.clear()
    with pytest.raises(InstrumentError, match="output is on"):
        amf.frequency.set(354e3)
    assert transport.log.sent() == []
    # a second client that does not know heat is on: the generator itself refuses
    other = AMFGenerator(amf.driver, coil_calibration=CAL, clock=amf.clock, name="other")
    status = other.frequency.set(354e3)
    with pytest.raises(InstrumentError, match="runs at 230 kHz, not 354"):
        status.wait(1)
    assert emu.heating
    assert emu.frequency_Hz == 230e3


def test_output_on_ramps_and_reads_back(lockstep_bench):
    """(Exact virtual timings: lockstep clock.)"""
    bench = lockstep_bench
    clock, sample, emu, transport, amf = bench
    amf.field.set(8.0).wait()
    assert not emu.heating
    t0 = clock.now()
    amf.output.set(1).wait()
    assert emu.heating
    assert emu.current_A == pytest.approx(200.0, abs=5.0)  # settled within tolerance
    assert 0.5 < clock.now() - t0 < 1.0  # 200 A at 300 A/s
    clock.advance(5.0)
    reading = amf.read()
    assert reading["amf_output"]["value"] == 1
    assert reading["amf_field"]["value"] == pytest.approx(8.0)
    assert reading["amf_field_setpoint"]["value"] == pytest.approx(8.0)
    assert reading["amf_current"]["value"] == pytest.approx(200.0)
    assert reading["amf_power"]["value"] == pytest.approx(800.0, abs=1.0)
    assert reading["amf_hf_product"]["value"] == pytest.approx(8e3 * 230e3)
    assert reading["amf_interlock"]["value"] == 0
    assert reading["amf_fault"]["value"] == 0
    assert reading["amf_field"]["timestamp"] == clock.now()
    assert sample.field_A_m == pytest.approx(8000.0)
    assert sample.T > 25.0


def test_read_asks_for_status_once(lockstep_bench):
    """(Exact virtual timings: lockstep clock.)"""
    bench = lockstep_bench
    clock, _, _, transport, amf = bench
    amf.read()
    assert transport.log.sent() == [b"1,RDATA\r", b"1,faults\r"]
    transport.log.clear()
    clock.sleep(0.1)
    amf.power.get()
    clock.sleep(0.1)
    amf.power.get()
    assert len(transport.log.sent()) == 4  # a lone get() is fresh...
    transport.log.clear()
    amf.power.get()
    assert transport.log.sent() == []  # ...but at the same clock instant there is no news
    amf.field.set(amf.field.get() + 0.5).wait()
    transport.log.clear()
    amf.power.get()
    assert len(transport.log.sent()) == 2  # a command since: asked again


def test_setpoint_change_while_heating_waits_for_the_ramp(lockstep_bench):
    """(Exact virtual timings: lockstep clock.)"""
    bench = lockstep_bench
    clock, _, emu, _, amf = bench
    amf.field.set(4.0).wait()
    amf.output.set(1).wait()
    t0 = clock.now()
    amf.field.set(10.0).wait()  # 100 -> 250 A at 300 A/s
    assert emu.current_A == pytest.approx(250.0, abs=5.0)
    assert clock.now() - t0 == pytest.approx(0.5, abs=0.15)


def test_output_on_rechecks_limits_with_the_generators_setpoint(bench):
    _, _, emu, transport, amf = bench
    amf.frequency.set(20e3).wait()
    emu.write(b"1,amps,500\r")  # someone else set 25 kA/m at 20 kHz
    assert emu.read() == b""  # settings are not answered
    transport.log.clear()
    with pytest.raises(LimitError, match="25 kA/m"):
        amf.output.set(1)
    assert b"1,hon\r" not in transport.log.sent()
    assert not emu.heating


def test_heat_refused_with_coolant_fault(bench):
    _, _, emu, transport, amf = bench
    amf.field.set(8.0).wait()
    emu.set_coolant_ok(False)
    with pytest.raises(InterlockError, match="COOLANT_FLOW"):
        amf.output.set(1).wait(1)
    assert b"1,hon\r" not in transport.log.sent()
    assert not emu.heating
    assert amf.interlock.get() == 1
    assert AMFFault(amf.fault.get()) == AMFFault.COOLANT_FLOW
    emu.set_coolant_ok(True)
    assert amf.clear_faults() == AMFFault.NONE
    amf.output.set(1).wait()
    assert emu.heating


def test_coolant_loss_while_heating_trips_and_is_reported(bench):
    clock, sample, emu, _, amf = bench
    amf.field.set(8.0).wait()
    amf.output.set(1).wait()
    clock.sleep(10.0)
    emu.set_coolant_ok(False)
    assert not emu.heating and sample.field_A_m == 0.0
    reading = amf.read()
    assert reading["amf_output"]["value"] == 0
    assert reading["amf_interlock"]["value"] == 1
    assert reading["amf_fault"]["value"] == int(AMFFault.COOLANT_FLOW)
    assert reading["amf_field"]["value"] == 0.0
    assert amf.status().faults.names == ("COOLANT_FLOW",)


def test_trip_during_ramp_fails_the_set(bench):
    clock, _, emu, _, amf = bench
    amf.frequency.set(230e3).wait()
    amf.field.set(16.0).wait()  # 400 A: 1.3 s ramp
    clock.call_every(0.5, lambda: emu.set_overtemperature(True), name="trip", start_in_s=0.5)
    with pytest.raises(InterlockError, match="COIL_OVERTEMP"):
        amf.output.set(1).wait(1)
    assert not emu.heating


def test_stop_and_unstage_switch_heat_off(bench):
    _, _, emu, _, amf = bench
    amf.field.set(8.0).wait()
    amf.output.set(1).wait()
    amf.stop()
    assert not emu.heating
    amf.stage()
    amf.output.set(1).wait()
    assert emu.heating
    amf.unstage()
    assert not emu.heating


def test_stop_falls_back_to_broadcast_when_the_unit_does_not_answer(bench):
    _, _, emu, transport, amf = bench
    amf.field.set(8.0).wait()
    amf.output.set(1).wait()
    emu.address = 2  # the unit no longer answers to 1: hoff is not confirmed
    amf.stop()
    assert not emu.heating
    assert transport.log.sent()[-3:] == [b"1,hoff\r", b"1,RDATA\r", b"0,hoff\r"]


def test_bluesky_plan(lockstep_bench):
    """(Exact virtual timings: lockstep clock.)"""
    bench = lockstep_bench
    clock, sample, emu, _, amf = bench
    RE = RunEngine({}, context_managers=[])
    install_sleep_handler(RE, clock)
    docs = []
    RE.subscribe(lambda name, doc: docs.append((name, doc)))

    def plan():
        yield from bps.mv(amf.frequency, 230e3, amf.field, 8.0)
        yield from bps.mv(amf.output, 1)
        yield from bp.count([amf], num=3, delay=10)
        yield from bps.mv(amf.output, 0)

    RE(plan())
    assert not emu.heating
    events = [doc for name, doc in docs if name == "event"]
    assert len(events) == 3
    assert [e["data"]["amf_field"] for e in events] == pytest.approx([8.0] * 3)
    stamps = [e["timestamps"]["amf_field"] for e in events]
    # clock time, not wall time (bluesky subtracts the wall time a step took from delay)
    assert stamps[2] - stamps[0] == pytest.approx(20.0, abs=0.5)
    descriptor = next(doc for name, doc in docs if name == "descriptor")
    assert descriptor["data_keys"]["amf_power"]["units"] == "W"
    assert descriptor["configuration"]["amf"]["data"]["amf_frequency"] == 230e3
    assert sample.T > 25.0


def test_failing_plan_leaves_heat_off(bench):
    _, _, emu, _, amf = bench
    RE = RunEngine({}, context_managers=[])

    def plan():
        yield from bps.mv(amf.field, 8.0, amf.output, 1)
        assert emu.heating
        raise RuntimeError("plan failed while heating")

    with pytest.raises(RuntimeError):
        RE(bpp.stage_wrapper(plan(), [amf]))
    assert not emu.heating
