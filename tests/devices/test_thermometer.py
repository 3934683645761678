"""FiberOpticThermometer against the ReFlex emulator, in process, on a lockstep clock."""

from __future__ import annotations

import math

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import pytest
from bluesky import RunEngine

from labctl.core.clock import SimClock, install_sleep_handler
from labctl.core.errors import ConfigError, LimitError
from labctl.core.limits import BenchLimits
from labctl.core.transport import open_transport
from labctl.devices.drivers.neoptix_reflex import NeoptixReflex
from labctl.devices.thermometer import FiberOpticThermometer, ThermometerDriver
from labctl.simulators.instruments.neoptix_reflex import NeoptixReflexEmulator
from labctl.simulators.physics.probes import FiberProbe
from labctl.simulators.physics.world import SimWorld
from labctl.testing import TableSample

ROLES = {1: "tumor", 2: "rectal", 4: "skin"}


def _make_bench(clock):
    sample = TableSample(tumor=37.0, rectal=36.5, skin=33.0)
    world = SimWorld(clock, sample)
    probes = {
        ch: FiberProbe(pos, tau_s=0.0, noise_C=0.0)
        for ch, pos in ((1, "tumor"), (2, "rectal"), (4, "skin"))
    }
    emu = NeoptixReflexEmulator(world, name="thermo", probes=probes)
    transport = open_transport("sim://thermo", sims={"thermo": emu}, log=True)
    driver = NeoptixReflex(transport, clock=clock)
    thermo = FiberOpticThermometer(
        driver,
        roles=ROLES,
        clock=clock,
        name="thermo",
        limits=BenchLimits(temperature_max_C={"tumor": 45.0}),
    )
    transport.log.clear()
    return clock, sample, emu, transport, thermo


@pytest.fixture
def bench(clock_factory):
    return _make_bench(clock_factory(start=1_000_000.0))


@pytest.fixture
def lockstep_bench():
    """(Exact virtual timestamps: lockstep clock.)"""
    return _make_bench(SimClock(start=1_000_000.0))


def test_construction_builds_one_signal_per_role_and_enables_those_channels(bench):
    _, _, emu, _, thermo = bench
    assert isinstance(thermo, FiberOpticThermometer)
    assert isinstance(thermo.driver, ThermometerDriver)
    assert thermo.roles == ROLES
    assert emu.enabled == (1, 2, 4) and not emu.streaming and emu.units == "c"
    assert thermo.role_signal("rectal") is thermo.rectal
    assert thermo.status_signal("skin") is thermo.skin_status
    assert thermo.tumor.name == "thermo_tumor"
    with pytest.raises(KeyError, match="no role 'liver'"):
        thermo.role_signal("liver")
    assert set(thermo.hints["fields"]) == {"thermo_tumor", "thermo_rectal", "thermo_skin"}


def test_same_roles_share_a_generated_class(bench):
    *_, transport, thermo = bench
    other = FiberOpticThermometer(thermo.driver, roles=dict(ROLES), clock=thermo.clock, name="t2")
    assert type(other) is type(thermo)
    assert not hasattr(FiberOpticThermometer, "tumor")


@pytest.mark.parametrize(
    "roles, match",
    [
        ({1: "tumor", 2: "tumor"}, "two channels"),
        ({1: "read"}, "clashes"),
        ({1: "acquisition"}, "clashes"),
        ({1: "rectal temp"}, "identifier"),
        ({5: "tumor"}, r"channels \[5\]"),
        ({}, "non-empty"),
    ],
)
def test_bad_roles_are_config_errors(bench, roles, match):
    *_, thermo = bench
    with pytest.raises(ConfigError, match=match):
        FiberOpticThermometer(thermo.driver, roles=roles, clock=thermo.clock, name="bad")


def test_trigger_is_one_query_and_read_reports_every_role(lockstep_bench):
    bench = lockstep_bench
    clock, sample, _, transport, thermo = bench
    thermo.trigger().wait()
    sample.T["tumor"] = 39.0  # changes after the trigger do not show in read()
    clock.sleep(1.0)
    reading = thermo.read()
    assert transport.log.sent() == [b"t\r"]
    assert reading["thermo_tumor"]["value"] == 37.0
    assert reading["thermo_rectal"]["value"] == 36.5
    assert reading["thermo_skin"]["value"] == 33.0
    assert reading["thermo_tumor_status"]["value"] == "ok"
    assert reading["thermo_tumor"]["timestamp"] == 1_000_000.0
    assert thermo.readings() == {"tumor": 37.0, "rectal": 36.5, "skin": 33.0}


def test_get_outside_a_trigger_reads_afresh(bench):
    clock, sample, _, transport, thermo = bench
    thermo.trigger().wait()
    sample.T["tumor"] = 39.0
    clock.sleep(1.0)
    assert thermo.tumor.get() == 39.0
    assert transport.log.sent() == [b"t\r", b"t1\r"]
    assert thermo.read()["thermo_tumor"]["value"] == 39.0


def test_describe_has_units_and_kinds(bench):
    *_, thermo = bench
    desc = thermo.describe()
    assert desc["thermo_tumor"]["units"] == "degC"
    assert desc["thermo_tumor"]["dtype"] == "number"
    assert desc["thermo_skin_status"]["dtype"] == "string"
    conf = thermo.describe_configuration()
    assert conf["thermo_enclosure_temperature"]["units"] == "degC"
    assert set(conf) == {
        "thermo_acquisition",
        "thermo_enabled_channels",
        "thermo_enclosure_temperature",
    }


def test_broken_fiber_reads_nan_and_status_says_why(bench):
    clock, _, emu, transport, thermo = bench
    emu.probes[2].broken = True
    thermo.trigger().wait()
    reading = thermo.read()
    assert math.isnan(reading["thermo_rectal"]["value"])
    assert reading["thermo_rectal_status"]["value"] == "no probe"
    assert reading["thermo_tumor_status"]["value"] == "ok"
    assert transport.log.sent() == [b"t\r", b"y\r"]  # power asked only for the diagnosis
    emu.probes[2].broken = False
    clock.sleep(0.2)  # the next scan (3 channels x 50 ms) sees the probe again
    assert thermo.rectal_status.get() == "ok"
    assert thermo.read()["thermo_rectal"]["value"] == 36.5


def test_out_of_range_reading_is_invalid_with_the_probe_present(bench):
    *_, emu, _, thermo = bench
    emu.probes[4].stuck_value = 300.0  # beyond the measuring range: "---.-"
    thermo.trigger().wait()
    reading = thermo.read()
    assert math.isnan(reading["thermo_skin"]["value"])
    assert reading["thermo_skin_status"]["value"] == "invalid"


def test_configuration_signals(bench):
    *_, emu, transport, thermo = bench
    conf = thermo.read_configuration()
    assert conf["thermo_acquisition"]["value"] == "fast"
    assert conf["thermo_enabled_channels"]["value"] == [1, 2, 4]
    assert conf["thermo_enclosure_temperature"]["value"] == 25.0
    thermo.acquisition.set("slow").wait()
    assert not emu.fast
    assert thermo.acquisition.get() == "slow"


def test_bad_acquisition_mode_is_refused_before_any_byte(bench):
    *_, emu, transport, thermo = bench
    with pytest.raises(ValueError, match="fast' or 'slow"):
        thermo.acquisition.set("turbo")
    assert transport.log.sent() == []
    assert emu.fast


def test_force_beyond_the_offset_limit_sends_no_f(bench):
    *_, emu, transport, thermo = bench
    with pytest.raises(LimitError):
        thermo.driver.force_reading(1, 45.0)
    assert transport.log.sent() == [b"t1\r"]
    assert emu.offsets_C[1] == 0.0


def test_check_limits(bench):
    clock, sample, emu, _, thermo = bench
    thermo.trigger().wait()
    thermo.check_limits()
    sample.T["tumor"] = 45.5
    clock.sleep(0.2)
    thermo.trigger().wait()
    with pytest.raises(LimitError, match="45.5 C for 'tumor'"):
        thermo.check_limits()
    emu.probes[1].broken = True
    clock.sleep(0.2)
    thermo.trigger().wait()
    with pytest.raises(LimitError, match="no valid reading"):
        thermo.check_limits()


def test_stop_and_unstage_leave_the_instrument_quiet(bench):
    *_, emu, _, thermo = bench
    thermo.driver.start_stream()
    thermo.stop()
    assert not emu.streaming
    thermo.stage()
    thermo.driver.start_stream()
    thermo.unstage()
    assert not emu.streaming


def test_count_plan_one_query_per_event(lockstep_bench):
    bench = lockstep_bench
    clock, sample, emu, transport, thermo = bench
    sample.rate_C_s = 0.1
    RE = RunEngine({}, context_managers=[])
    install_sleep_handler(RE, clock)
    docs = []
    RE(bp.count([thermo], num=5, delay=10.0), lambda name, doc: docs.append((name, doc)))
    events = [doc for name, doc in docs if name == "event"]
    tumor = [e["data"]["thermo_tumor"] for e in events]
    assert tumor == pytest.approx([37.0, 38.0, 39.0, 40.0, 41.0])
    assert [e["data"]["thermo_rectal"] for e in events] == [36.5] * 5
    assert transport.log.sent().count(b"t\r") == 5
    (descriptor,) = [doc for name, doc in docs if name == "descriptor"]
    assert descriptor["data_keys"]["thermo_tumor"]["units"] == "degC"
    config = descriptor["configuration"]["thermo"]["data"]
    assert config["thermo_enabled_channels"] == [1, 2, 4]
    assert not emu.streaming


def test_mv_acquisition_in_a_plan(bench):
    *_, emu, _, thermo = bench
    RE = RunEngine({}, context_managers=[])
    RE(bps.mv(thermo.acquisition, "slow"))
    assert not emu.fast
