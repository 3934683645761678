"""The safety monitor on the simulated benches: it trips, switches energy off, records why."""

from __future__ import annotations

import math
from pathlib import Path

import bluesky.plan_stubs as bps
import numpy as np
import pytest
import yaml
from bluesky import preprocessors as bpp
from bluesky.utils import Msg

from labctl.bench import Bench
from labctl.config.bench_file import load_bench_config
from labctl.core.errors import ConfigError, InterlockError, SafetyTrip
from labctl.plans import magnetic_hyperthermia, sar_measurement
from labctl.safety.monitor import SafetyMonitor
from labctl.testing import DocumentCollector

BENCHES = Path(__file__).resolve().parents[2] / "examples" / "benches"
VIAL_SAMPLE = {"heat_capacity_J_per_K": 5.0, "iron_mass_mg": 2.0}
GAINS = {"kp": 0.5, "ki": 0.005, "kd": 0.0}


Docs = DocumentCollector


def make_bench(tmp_path, name="sim-mouse.yaml", edit=None, **kw) -> Bench:
    data = yaml.safe_load((BENCHES / name).read_text())
    if edit is not None:
        edit(data)
    bench = Bench(load_bench_config(text=yaml.safe_dump(data)), data_dir=tmp_path / "data", **kw)
    bench.docs = Docs()
    bench.RE.subscribe(bench.docs)
    return bench


@pytest.fixture
def mouse(tmp_path):
    bench = make_bench(tmp_path)
    yield bench
    bench.close()


@pytest.fixture
def vial(tmp_path):
    bench = make_bench(tmp_path, "sim-vial.yaml")
    yield bench
    bench.close()


class Energy:
    """Clock times at which the world's AMF field changes (the truth, not a readback)."""

    def __init__(self, bench):
        self.changes = []
        world, clock = bench.twin.world, bench.clock
        original = world.set_amf

        def set_amf(frequency_Hz, field_A_m):
            self.changes.append((clock.now(), field_A_m))
            original(frequency_Hz, field_A_m)

        world.set_amf = set_amf

    def off_at(self):
        return self.changes[-1][0] if self.changes and self.changes[-1][1] == 0 else None


def test_stuck_control_probe_drives_the_loop_until_a_second_probe_trips(tmp_path):
    """The acceptance case: the tumor probe the controller uses sticks low, the
    controller pushes the field, a second guarded probe in the tumor margin rises past
    its limit; the monitor switches the field off within one period and the run says why."""

    def edit(data):
        thermo = data["devices"]["thermo"]
        thermo["channels"] = {1: "tumor", 2: "rectal", 3: "skin", 4: "margin"}
        thermo["probes"] = {
            "tumor": {"position": "tumor"},
            "rectal": {"position": "rectal"},
            "skin": {"position": "skin"},
            "margin": {"position": "tumor_edge", "tau_s": 0.01, "noise_C": 0.0},
        }
        data["limits"]["temperature_max_C"]["margin"] = 42.0

    bench = make_bench(tmp_path, edit=edit)
    try:
        period = bench.safety.period_s
        energy = Energy(bench)
        margin_true = []
        bench.clock.call_every(
            0.05,
            lambda: margin_true.append(
                (bench.clock.now(), bench.twin.world.temperature("tumor_edge"))
            ),
        )
        bench.faults.schedule(30.0, "probe_stuck", "thermo", channel=1, value=37.0)
        with pytest.raises(SafetyTrip, match=r"thermo.margin: 42\.\d C exceeds its limit 42 C"):
            bench.RE(
                magnetic_hyperthermia(
                    bench.amf,
                    bench.thermo,
                    target=42,
                    hold=600,
                    frequency=230e3,
                    max_field=12,
                    ramp_rate=None,
                    gains=GAINS,
                )
            )
        trip = bench.safety.trips[-1]
        assert trip.kind == "over_temperature" and trip.source == "thermo.margin"
        # the controller was pushed: the field ran at its maximum after the probe stuck
        _, command = zip(
            *[(e["time"], e["data"]["control_command"]) for e in bench.docs.stream("primary")],
            strict=True,
        )
        assert max(command) == pytest.approx(12.0)
        # the probe (10 ms lag, no noise) reads above 42.0 once the truth reaches 42.05:
        t_cross = next(t for t, T in margin_true if T >= 42.05)
        assert t_cross <= trip.time <= t_cross + period + 0.06  # + sampling of the truth
        assert energy.off_at() == pytest.approx(trip.time) and trip.outputs_off
        assert not bench.twin.emulators["amf"].heating
        assert bench.twin.world.truth()["field_A_m"] == 0.0
        stop = bench.docs.of("stop")[0]
        assert stop["exit_status"] == "abort"
        assert stop["reason"].startswith("safety trip: thermo.margin")
        (event,) = bench.docs.stream("safety")
        assert event["data"]["safety_kind"] == "over_temperature"
        assert event["data"]["safety_value"] > 42.0 and event["data"]["safety_outputs_off"]
        start = bench.docs.of("start")[0]
        assert start["safety_monitor"]["temperature_max_C"]["margin"] == 42.0
    finally:
        bench.close()


def test_broken_guarded_probe_trips_and_the_store_keeps_everything(mouse):
    bench = mouse
    bench.faults.schedule(20.0, "probe_broken", "thermo", channel=3)  # skin: not controlled
    with pytest.raises(SafetyTrip, match="thermo.skin: no valid reading"):
        bench.RE(
            magnetic_hyperthermia(
                bench.amf,
                bench.thermo,
                target=39,
                hold=120,
                frequency=230e3,
                max_field=12,
                gains=GAINS,
            )
        )
    trip = bench.safety.trips[-1]
    assert trip.kind == "invalid_reading" and trip.outputs_off
    assert trip.time - bench.faults.log[-1].time <= bench.safety.period_s + 1e-6
    assert not bench.twin.emulators["amf"].heating
    if bench.last_run_path is not None:
        from labctl.data import read_run

        run = read_run(bench.last_run_path)
        assert run.stop["exit_status"] == "abort" and "thermo.skin" in run.stop["reason"]
        stored = run.stream("primary")
        emitted = bench.docs.stream("primary")
        assert sorted(int(s) for s in stored["seq_num"].values) == [e["seq_num"] for e in emitted]
        assert str(run.stream("safety")["safety_kind"].values[0]) == "invalid_reading"


def test_probe_broken_before_the_run_aborts_before_energizing(mouse):
    bench = mouse
    bench.faults.inject("probe_broken", "thermo", channel=1)
    bench.transports["amf"].log.clear()
    with pytest.raises(SafetyTrip, match="thermo.tumor"):
        bench.RE(
            magnetic_hyperthermia(
                bench.amf, bench.thermo, target=39, hold=60, frequency=230e3, max_field=12
            )
        )
    sent = b"".join(bench.transports["amf"].log.sent())
    assert b"hon" not in sent
    assert bench.docs.of("stop")[0]["exit_status"] == "abort"
    assert len(bench.docs.stream("safety")) == 1


def test_stale_readings_trip_after_stale_periods(mouse):
    bench, monitor = mouse, mouse.safety
    monitor.start()
    t0 = bench.clock.now()
    bench.faults.inject("disconnect", "thermo")
    bench.clock.advance(5.0)
    trip = monitor.trips[-1]
    assert trip.kind == "stale_reading" and "link down" in trip.message
    assert monitor.stale_s <= trip.time - t0 <= monitor.stale_s + monitor.period_s + 1e-6
    monitor.stop()


@pytest.mark.parametrize("stuck_s", [None, 10.0])
def test_stuck_reading_only_with_stuck_detection(tmp_path, stuck_s):
    def edit(data):
        data["safety"] = {"stuck_s": stuck_s} if stuck_s else {}

    bench = make_bench(tmp_path, edit=edit)
    try:
        bench.safety.start()
        bench.clock.advance(30.0)  # live noisy probes never look stuck
        assert bench.safety.trips == []
        value = bench.drivers["thermo"].read_channel(1)
        bench.faults.inject("probe_stuck", "thermo", channel=1, value=value)
        t0 = bench.clock.now()
        bench.clock.advance(15.0)
        if stuck_s is None:
            assert bench.safety.trips == []
        else:
            trip = bench.safety.trips[-1]
            assert trip.kind == "stuck_reading" and trip.value == value
            assert stuck_s <= trip.time - t0 <= stuck_s + bench.safety.period_s + 1e-6
    finally:
        bench.close()


def test_interlock_opening_trips_but_a_latched_old_one_does_not(vial):
    bench = vial
    bench.faults.inject("interlock_open", "laser")
    bench.faults.clear("laser")  # closed again, but the trip stays latched

    def plan():
        yield from bpp.run_wrapper(_read_then_sleep(bench.laser, 5.0))

    bench.RE(plan())  # latched before the run: the controller refuses emission anyway
    assert bench.safety.trips == []
    bench.faults.schedule(2.0, "interlock_open", "laser")
    with pytest.raises(SafetyTrip, match="laser: interlock open"):
        bench.RE(plan())
    assert bench.safety.trips[-1].kind == "interlock"


def _read_then_sleep(device, seconds):
    yield Msg("create", name="primary")
    yield Msg("read", device)
    yield Msg("save")
    yield Msg("sleep", None, seconds)


def test_coolant_loss_during_sar_heating(vial):
    bench = vial
    energy = Energy(bench)
    bench.faults.schedule(35.0, "coolant_loss", "amf")  # during the heat phase
    with pytest.raises((SafetyTrip, InterlockError), match="COOLANT|coolant"):
        bench.RE(
            sar_measurement(
                bench.amf,
                bench.thermo,
                frequency=230e3,
                field=8.0,
                heat_time=60,
                cool_time=30,
                equilibrate=10,
                baseline=10,
                period=1.0,
                sample=VIAL_SAMPLE,
            )
        )
    assert energy.off_at() == pytest.approx(bench.faults.log[-1].time)  # hardware interlock
    assert not bench.twin.emulators["amf"].heating
    stop = bench.docs.of("stop")[0]
    assert stop["exit_status"] in ("abort", "fail") and "oolant" in stop["reason"].replace(
        "COOLANT", "coolant"
    )


def test_output_beyond_the_limits_is_caught_from_its_readback(vial):
    bench, amf = vial, vial.drivers["amf"]
    bench.safety.start()
    amf.take_control()
    amf.set_current(550.0)  # 22 kA/m at 230 kHz: beyond the bench's 20 kA/m, bypassing checks
    amf.heat_on()
    bench.clock.advance(3.0)
    trip = bench.safety.trips[-1]
    assert trip.kind == "over_output" and "kA/m exceeds the bench limit 20" in trip.message
    assert not bench.twin.emulators["amf"].heating
    bench.safety.stop()


def test_max_energized_time(tmp_path):
    def edit(data):
        data["limits"]["max_energized_s"] = 20.0

    bench = make_bench(tmp_path, "sim-vial.yaml", edit=edit)
    try:
        with pytest.raises(SafetyTrip, match="energized 2\\d s in this run"):
            bench.RE(
                sar_measurement(
                    bench.amf,
                    bench.thermo,
                    frequency=230e3,
                    field=8.0,
                    heat_time=60,
                    cool_time=10,
                    equilibrate=0,
                    baseline=5,
                    period=1.0,
                    sample=VIAL_SAMPLE,
                )
            )
        assert bench.safety.trips[-1].kind == "max_energized"
    finally:
        bench.close()


def test_protocol_metadata_tightens_limits_and_never_loosens(mouse):
    bench = mouse
    md = {"safety": {"temperature_max_C": {"tumor": 38.0, "skin": 90.0}}}
    with pytest.raises(SafetyTrip, match="thermo.tumor: 38.\\d C exceeds its limit 38 C"):
        bench.RE(
            magnetic_hyperthermia(
                bench.amf,
                bench.thermo,
                target=40,
                hold=60,
                frequency=230e3,
                max_field=12,
                gains=GAINS,
                md=md,
            )
        )
    recorded = bench.docs.of("start")[0]["safety_monitor"]["temperature_max_C"]
    assert recorded["tumor"] == 38.0 and recorded["skin"] == 45.0
    assert bench.safety.temperature_max_C["tumor"] == 48.0  # only for that run
    assert "reference" not in bench.safety.guarded
    # a protocol may also guard a role the bench file leaves unguarded
    bench.faults.inject("probe_broken", "thermo", channel=4)
    md = {"safety": {"temperature_max_C": {"reference": 30.0}}}
    with pytest.raises(SafetyTrip, match="thermo.reference"):
        bench.RE(
            magnetic_hyperthermia(
                bench.amf, bench.thermo, target=39, hold=60, frequency=230e3, max_field=12, md=md
            )
        )


def test_switch_off_is_retried_until_the_instrument_answers(vial):
    bench, monitor = vial, vial.safety
    amf = bench.drivers["amf"]
    amf.take_control()
    amf.set_current(100.0)
    amf.heat_on()
    monitor.start()
    bench.faults.inject("disconnect", "amf", duration_s=2.2)
    monitor.trip("over_temperature", "test", "test trip")
    assert not monitor.trip_record.outputs_off and "link down" in monitor.trip_record.off_errors[0]
    assert bench.twin.emulators["amf"].heating  # nothing can reach it yet
    t0 = bench.clock.now()
    bench.clock.advance(3.0)
    trip = monitor.trip_record
    assert trip.outputs_off and not bench.twin.emulators["amf"].heating
    assert 2.2 <= trip.off_time - t0 <= 2.2 + monitor.period_s + 1e-6
    monitor.stop()


def test_an_output_left_on_by_a_plan_is_switched_off_when_the_run_ends(vial):
    bench = vial
    driver = bench.drivers["amf"]

    def sneaky():
        yield Msg("open_run")
        yield Msg("create", name="primary")
        yield Msg("read", bench.amf)
        yield Msg("save")
        driver.take_control()
        driver.set_current(50.0)
        driver.heat_on()  # behind the RunEngine's back
        yield Msg("close_run")

    bench.RE(sneaky())
    trip = bench.safety.trips[-1]
    assert trip.kind == "output_left_on" and trip.outputs_off
    assert not bench.twin.emulators["amf"].heating


def test_failed_status_reaches_the_plan_as_the_labctl_error(vial):
    bench = vial
    bench.faults.inject("coolant_loss", "amf")
    with pytest.raises(InterlockError, match="COOLANT_FLOW"):
        bench.RE(bpp.run_wrapper(bps.mv(bench.amf.output, 1)))
    assert "COOLANT_FLOW" in bench.docs.of("stop")[0]["reason"]


def test_a_check_that_crashes_trips(vial, monkeypatch):
    def broken():
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(vial.drivers["thermo"], "read_temperatures", broken)
    trip = vial.safety.check()
    assert trip.kind == "monitor_error" and "ZeroDivisionError" in trip.message
    assert trip.outputs_off


def test_realtime_trip_interrupts_a_long_sleep(tmp_path):
    data = yaml.safe_load((BENCHES / "sim-vial.yaml").read_text())
    data["clock"] = {"mode": "realtime", "speed": 20.0}
    bench = Bench(load_bench_config(text=yaml.safe_dump(data)), data_dir=tmp_path / "rt")
    try:
        t0 = bench.clock.now()
        bench.faults.schedule(2.0, "probe_broken", "thermo", channel=1)

        def plan():
            yield from bps.mv(bench.amf.frequency, 230e3, bench.amf.field, 5.0)
            yield from bps.mv(bench.amf.output, 1)
            yield from bps.sleep(600)

        with pytest.raises(SafetyTrip, match="thermo.sample"):
            bench.RE(bpp.run_wrapper(plan()))
        assert bench.clock.now() - t0 < 60.0  # virtual seconds: the 600 s sleep was cut
        assert not bench.twin.emulators["amf"].heating
    finally:
        bench.close()


def test_bench_file_safety_section(tmp_path):
    def off(data):
        data["safety"] = {"enabled": False}

    bench = make_bench(tmp_path, "sim-vial.yaml", edit=off)
    try:
        assert bench.safety is None
        assert any("DISABLED" in m for m in bench.messages)
    finally:
        bench.close()

    def tuned(data):
        data["safety"] = {"period_s": 0.25, "stale_periods": 4, "stuck_s": 30}
        data["limits"]["temperature_max_C"]["nowhere"] = 40.0

    bench = make_bench(tmp_path, "sim-vial.yaml", edit=tuned)
    try:
        s = bench.safety
        assert (s.period_s, s.stale_s, s.stuck_s) == (0.25, 1.0, 30.0)
        assert s.unguarded == ["nowhere"]
        assert any("nowhere" in m for m in bench.messages)
    finally:
        bench.close()
    with pytest.raises(ConfigError, match="stale_periods"):
        load_bench_config(
            text=yaml.safe_dump(
                {
                    **yaml.safe_load((BENCHES / "sim-vial.yaml").read_text()),
                    "safety": {"stale_periods": 0.5},
                }
            )
        )


def test_a_normal_run_is_watched_without_tripping(vial):
    bench = vial
    bench.transports["laser"].log.clear()
    result = bench.RE(
        sar_measurement(
            bench.amf,
            bench.thermo,
            frequency=230e3,
            field=8.0,
            heat_time=20,
            cool_time=10,
            equilibrate=0,
            baseline=5,
            period=1.0,
            sample=VIAL_SAMPLE,
        )
    )
    assert result.exit_status == "success" and bench.safety.trips == []
    assert bench.safety.checks >= 2 * 35 and not bench.safety.running
    assert bench.docs.stream("safety") == []
    assert bench.transports["laser"].log.sent() == []  # not used by the run: not polled


def test_the_pace_is_fast_only_while_energy_can_flow(mouse):
    """Idle (nothing it could switch off in use or on): a check every idle_period_s;
    from the run's first use of the AMF, every period_s; a dead thermometer link is
    stale after stale_periods at the pace of the moment."""
    bench, monitor = mouse, mouse.safety
    assert (monitor.period_s, monitor.idle_period_s) == (0.5, 30.0)
    checks = []

    def plan():
        yield from bps.open_run()
        n0 = monitor.checks
        yield from bps.sleep(300.0)  # imaging, waiting: nothing energized
        checks.append(monitor.checks - n0)
        assert monitor.current_period_s == 30.0
        yield from bps.read(bench.amf)  # the run uses the generator now
        assert monitor.current_period_s == 0.5
        n0 = monitor.checks
        yield from bps.sleep(10.0)
        checks.append(monitor.checks - n0)
        yield from bps.close_run()

    bench.RE(plan())
    assert checks == [10, 20]
    assert monitor.trips == []


def test_an_idle_monitor_still_trips_on_a_dead_thermometer(mouse):
    bench, monitor = mouse, mouse.safety

    def plan():
        yield from bps.open_run()
        yield from bps.sleep(45.0)
        bench.faults.inject("disconnect", "thermo")
        yield from bps.sleep(600.0)
        yield from bps.close_run()

    t0 = bench.clock.now()
    with pytest.raises(SafetyTrip):
        bench.RE(plan())
    trip = monitor.trips[-1]
    assert trip.kind == "stale_reading" and "link down" in trip.message
    # no valid reading for stale_periods idle periods, counted from the last good check
    late = trip.time - (t0 + 45.0)
    assert monitor.stale_periods * 30.0 - 30.0 <= late <= monitor.stale_periods * 30.0 + 1e-6


def test_monitor_arguments_are_checked():
    from labctl.core.clock import SimClock

    for kwargs in (
        {"period_s": 0},
        {"stale_periods": 0.5},
        {"stuck_s": -1},
        {"period_s": 2.0, "idle_period_s": 1.0},
    ):
        with pytest.raises(ConfigError):
            SafetyMonitor(SimClock(), **kwargs)
    monitor = SafetyMonitor(SimClock(), temperature_max_C={"tumor": 41})
    assert monitor.temperature_max_C == {"tumor": 41.0} and monitor.check() is None
    assert math.isnan(monitor.trip("interlock", "x", "by hand").value)
    assert np.isfinite(monitor.trips[-1].off_time)


def test_a_protocol_file_can_tighten_the_limits_through_its_metadata(mouse):
    from labctl.protocol.runner import build_steps, load_protocol

    text = """
protocol: tight
metadata: {safety: {temperature_max_C: {tumor: 45.0}}}
steps:
  - plan: magnetic_hyperthermia
    args: {target: 43, hold: 60, frequency: 230000, max_field: 12}
"""
    protocol, doc = load_protocol(text=text)
    (plan,) = build_steps(protocol, doc, mouse)
    first = next(plan)
    assert first.command == "open_run"
    assert first.kwargs["safety"] == {"temperature_max_C": {"tumor": 45.0}}
    plan.close()
