"""Fault injection: link faults on the bytes, instrument faults through the emulators."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from labctl.bench import Bench
from labctl.config.bench_file import load_bench_config
from labctl.core.clock import SimClock
from labctl.core.errors import ConfigError, TransportError
from labctl.core.transport import SimTransport
from labctl.devices.drivers.ambrell_easyheat import AMFFault
from labctl.devices.drivers.neoptix_reflex import NeoptixReflex
from labctl.simulators.faults import Fault, FaultController, FaultInjector
from labctl.simulators.instruments.neoptix_reflex import NeoptixReflexEmulator
from labctl.simulators.physics.probes import FiberProbe
from labctl.simulators.physics.sample import make_sample
from labctl.simulators.physics.world import SimWorld

BENCHES = Path(__file__).resolve().parents[2] / "examples" / "benches"


@pytest.fixture
def thermo():
    """A 2-channel thermometer emulator on a vial, its driver and a fault injector."""
    clock = SimClock(start=1000.0)
    world = SimWorld(clock, make_sample("vial"), seed=3)
    probes = {1: FiberProbe("sample", noise_C=0.0), 2: FiberProbe("reference", noise_C=0.0)}
    emulator = NeoptixReflexEmulator(world, name="thermo", channels=2, probes=probes)
    driver = NeoptixReflex(
        SimTransport("sim://thermo", emulator), channels=2, clock=clock, retries=0
    )
    injector = FaultInjector(seed=7).attach(emulator)
    return clock, emulator, driver, injector


@pytest.fixture
def vial(tmp_path):
    bench = Bench.from_file(BENCHES / "sim-vial.yaml", data_dir=tmp_path)
    yield bench
    bench.close()


def test_dropped_replies_time_out_and_are_counted(thermo):
    clock, emulator, driver, inj = thermo
    assert driver.read_all() == [
        pytest.approx(driver.read_channel(1)),
        pytest.approx(driver.read_channel(2)),
    ]
    inj.drop()
    with pytest.raises(TransportError, match="no prompt after 't'"):
        driver.read_all()
    assert inj.stats["dropped"] > 0 and inj.active == ["drop"]
    inj.clear()
    assert len(driver.read_all()) == 2


def test_partial_drop_and_garble_are_seeded(thermo):
    _, emulator, _, _ = thermo

    def reply(seed, kind, p):
        inj = FaultInjector(seed=seed).attach(emulator)
        inj.add(kind, p=p)
        emulator.write(b"i\r")
        return emulator.read(), inj.stats

    clean_inj = FaultInjector().attach(emulator)
    emulator.write(b"i\r")
    clean = emulator.read()
    assert clean_inj.stats == {}
    dropped, stats = reply(1, "drop", 0.3)
    assert len(dropped) == len(clean) - stats["dropped"]
    assert 0.15 * len(clean) < stats["dropped"] < 0.45 * len(clean)
    assert reply(1, "drop", 0.3)[0] == dropped  # same seed, same bytes lost
    garbled, stats = reply(2, "garble", 1.0)
    assert len(garbled) == len(clean) and stats["garbled"] == len(clean)
    assert all(a != b for a, b in zip(garbled, clean, strict=True))


def test_delayed_reply_arrives_after_clock_time(thermo):
    clock, emulator, driver, inj = thermo
    inj.delay(2.0)
    with pytest.raises(TransportError):
        driver.read_channel(1)
    assert emulator.read() == b""  # still held
    clock.advance(2.0)
    assert emulator.read().endswith(b"*")  # the late reply
    inj.clear()
    # a late reply on the line when the next query goes out is discarded by the driver
    inj.delay(1.0)
    emulator.write(b"t1\r")
    inj.clear()
    clock.advance(1.0)
    assert driver.read_channel(2) is not None


def test_commands_delayed_on_the_way_in_take_effect_late(thermo):
    clock, emulator, _, inj = thermo
    inj.delay(1.5, direction="in")
    emulator.write(b"uf\r")
    assert emulator.units == "c"
    clock.advance(1.5)
    emulator.read()  # the next transfer delivers what is due
    assert emulator.units == "f"


def test_disconnect_refuses_transfers_until_reconnect(thermo):
    clock, emulator, driver, inj = thermo
    emulator.write(b"t\r")  # unread reply: lost with the link
    inj.disconnect(duration_s=3.0)
    assert not inj.connected and "disconnect" in inj.active
    with pytest.raises(TransportError, match="link down"):
        driver.read_all()
    clock.advance(3.0)
    assert inj.connected
    assert len(driver.read_all()) == 2
    assert inj.stats["refused"] >= 1


def test_link_fault_arguments_are_checked(thermo):
    *_, inj = thermo
    for kwargs in (
        {"kind": "melt"},
        {"kind": "drop", "p": 1.5},
        {"kind": "drop", "direction": "sideways"},
        {"kind": "delay", "delay_s": 0},
    ):
        with pytest.raises(ConfigError):
            inj.add(**kwargs)


def test_instrument_faults_through_the_controller(vial):
    bench, faults = vial, vial.faults
    thermo, amf, laser = bench.drivers["thermo"], bench.drivers["amf"], bench.drivers["laser"]
    broken = faults.inject("probe_broken", "thermo", channel=1)
    assert thermo.read_channel(1) is None and thermo.probe_status()[1] == "no probe"
    faults.inject("probe_stuck", "thermo", channel=2, value=30.0)
    assert thermo.read_channel(2) == 30.0
    assert broken in faults.active
    faults.clear("thermo")
    bench.clock.advance(0.5)  # the next scan of the channels
    assert thermo.read_channel(1) is not None and thermo.read_channel(2) != 30.0
    faults.inject("coolant_loss", "amf")
    faults.inject("generator_trip", "amf")
    assert amf.faults() == AMFFault.COOLANT_FLOW | AMFFault.COIL_OVERTEMP
    faults.clear("amf")
    assert amf.clear_faults() == AMFFault.NONE
    for kind, name in (
        ("interlock_open", "interlock"),
        ("keylock_off", "keylock"),
        ("laser_overtemperature", "overtemperature"),
    ):
        faults.inject(kind, "laser")
        assert laser.trips()[name]
    faults.clear("laser")
    laser.clear_trips()
    assert not any(laser.trips().values())
    assert [a.fault.kind for a in faults.log][:2] == ["probe_broken", "probe_stuck"]


def test_faults_must_fit_their_device(vial):
    faults = vial.faults
    with pytest.raises(ConfigError, match="does not apply"):
        faults.inject("coolant_loss", "thermo")
    with pytest.raises(ConfigError, match="does not apply"):
        faults.inject("interlock_open", "amf")
    with pytest.raises(ConfigError, match="no probe on channel 3"):
        faults.inject("probe_broken", "thermo", channel=3)
    with pytest.raises(ConfigError, match="frozen reading"):
        Fault("probe_stuck", "thermo", channel=1)
    with pytest.raises(ConfigError, match="unknown fault kind"):
        Fault("meltdown", "amf")
    with pytest.raises(ConfigError, match="no simulated device"):
        faults.inject("drop", "camera")


def test_scheduled_fault_fires_at_clock_time_and_clears_after_its_duration(vial):
    clock, driver = vial.clock, vial.drivers["thermo"]
    t0 = clock.now()
    vial.faults.schedule(5.0, Fault("probe_broken", "thermo", channel=1, duration_s=2.0))
    clock.advance(4.9)
    assert driver.read_channel(1) is not None
    clock.advance(0.2)
    assert driver.read_channel(1) is None
    applied = vial.faults.log[-1]
    assert applied.time == pytest.approx(t0 + 5.0)
    clock.advance(2.0)
    assert driver.read_channel(1) is not None and applied.cleared == pytest.approx(t0 + 7.0)


def test_link_fault_with_duration_ends_by_itself(vial):
    clock, amf = vial.clock, vial.drivers["amf"]
    vial.faults.inject("garble", "amf", duration_s=1.0)
    amf.retries = 0
    with pytest.raises((TransportError, Exception)):
        amf.status()
    clock.advance(1.0)
    assert amf.status().faults == AMFFault.NONE


def _bench_text(**device_faults) -> str:
    data = yaml.safe_load((BENCHES / "sim-vial.yaml").read_text())
    for name, faults in device_faults.items():
        data["devices"][name]["faults"] = faults
    return yaml.safe_dump(data)


def test_bench_file_faults_are_scheduled_from_start_up(tmp_path):
    text = _bench_text(
        thermo=[{"kind": "probe_stuck", "role": "sample", "value": 31.5, "at_s": 2.0}],
        amf=[{"kind": "coolant_loss", "at_s": 4.0, "duration_s": 1.0}],
    )
    bench = Bench(load_bench_config(text=text), data_dir=tmp_path)
    try:
        assert any("probe_stuck" in m and "+2 s" in m for m in bench.messages)
        thermo, amf = bench.drivers["thermo"], bench.drivers["amf"]
        assert thermo.read_channel(1) != 31.5
        bench.clock.advance(2.0)
        assert thermo.read_channel(1) == 31.5
        bench.clock.advance(2.0)
        assert amf.faults() == AMFFault.COOLANT_FLOW
        bench.clock.advance(1.0)
        assert amf.clear_faults() == AMFFault.NONE
    finally:
        bench.close()


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        ({"amf": [{"kind": "probe_broken", "role": "sample"}]}, "does not apply to a amf"),
        ({"thermo": [{"kind": "probe_broken", "role": "skin"}]}, "needs 'role'"),
        ({"thermo": [{"kind": "probe_stuck", "role": "sample"}]}, "frozen 'value'"),
        ({"laser": [{"kind": "interlock_open", "p": 2}]}, "less than or equal to 1"),
        ({"laser": [{"kind": "unplug"}]}, "faults"),
    ],
)
def test_bench_file_fault_errors(faults, message):
    with pytest.raises(ConfigError, match=message):
        load_bench_config(text=_bench_text(**faults))


def test_controller_works_on_bare_emulators():
    clock = SimClock(start=0.0)
    world = SimWorld(clock, make_sample("vial"), seed=1)
    emulator = NeoptixReflexEmulator(world, name="t", channels=1, probes={1: FiberProbe("sample")})
    controller = FaultController({"t": emulator}, clock, seed=5)
    controller.schedule(0.0, "probe_broken", "t", channel=1)
    assert emulator.probes[1].broken
    assert controller.injector("t") is controller.injector("t")
    assert emulator.faults is controller.injector("t")
