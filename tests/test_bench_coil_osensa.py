"""The second bench end to end: CPX400-driven resonant coil, OSENSA FTX (the example
plugin package) and CNI MDL-III, simulated; physics outcomes against the twin's truth,
and its faults (an over-current trip, a missing phosphor probe, a silent laser)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from labctl.app.cli import main
from labctl.core.errors import LabctlError
from labctl.plans import magnetic_hyperthermia, photothermal_therapy, sar_measurement
from labctl.simulators.faults import Fault
from labctl.testing import sim_bench
from tests.conftest import BENCHES, EXAMPLES

BENCH = BENCHES / "sim-coil-osensa.yaml"
VIAL_BENCH = BENCHES / "sim-coil-osensa-vial.yaml"
VIAL_SAMPLE = {
    "components": [{"mass_g": 1.0, "c_J_per_gK": 4.186}, {"mass_g": 1.0, "c_J_per_gK": 0.83}],
    "iron_mass_mg": 2.0,
}
FAST_GAINS = {"kp": 0.5, "ki": 0.005, "kd": 0.0}

pytestmark = [pytest.mark.slow]


def test_devices_lists_the_three_instruments_with_identities(osensa_plugin, capsys):
    assert main(["devices", "--bench", str(BENCH), "--sim"]) == 0
    out = capsys.readouterr().out
    assert "thermo (thermometer, osensa_ftx)" in out
    assert "identity: Model OSENSA FTX (3-channel), Serial 21040001, Slave 40" in out
    assert "amf (amf, aimtti_cpx400_coil)" in out
    assert "Model CPX400DP" in out and "Capacitor 88nF (230 kHz)" in out
    assert "laser (laser, cni_mdl3)" in out and "identity: Model CNI MDL-III" in out
    assert "channel 1 tumor      37.0 C, probe ok" in out


@pytest.fixture(scope="module")
def hyperthermia_run(osensa_plugin, tmp_path_factory):
    bench = sim_bench(BENCH, tmp_path_factory.mktemp("coil-ht"))
    fields = []
    world = bench.twin.world
    set_amf = world.set_amf

    def record(frequency_Hz, field_A_m):
        fields.append((frequency_Hz, field_A_m))
        set_amf(frequency_Hz, field_A_m)

    world.set_amf = record
    result = bench.RE(
        magnetic_hyperthermia(
            bench.amf, bench.thermo, target=43, hold=1800, frequency=230e3, max_field=12
        )
    )
    yield bench, result, fields
    bench.close()


def test_hyperthermia_holds_43C_on_the_coil(hyperthermia_run):
    bench, result, fields = hyperthermia_run
    assert result.exit_status == "success"
    t, T = bench.docs.column("thermo_tumor")
    assert T[0] == pytest.approx(37.0, abs=0.3)
    reached = np.argmax(T >= 43.0)
    assert T[reached] >= 43.0
    assert T.max() <= 43.5  # overshoot at most 0.5 C
    window = (t >= t[reached] + 300) & (t <= t[reached] + 1800)
    assert t[-1] >= t[reached] + 1800 - 1.5
    assert np.abs(T[window] - 43.0).max() <= 0.3


def test_the_coil_field_stays_within_limits_and_ends_off(hyperthermia_run):
    bench, _, fields = hyperthermia_run
    frequencies = {f for f, _ in fields}
    peak = max(h for _, h in fields)
    assert frequencies == {230000.0}
    assert 0 < peak <= 12e3 + 1e-6  # max_field, A/m
    assert peak * 230e3 <= 5e9  # H*f (Hergt-Dutz)
    assert fields[-1][1] == 0.0 and not bench.twin.emulators["amf"].outputs[1].on


def test_sar_of_a_vial_in_the_coil_matches_the_truth(osensa_plugin, tmp_path):
    bench = sim_bench(VIAL_BENCH, tmp_path)
    try:
        world = bench.twin.world
        world.set_amf(230e3, 8e3)
        true_sar = world.truth()["sar_W_per_g_Fe"]
        world.set_amf(230e3, 0.0)
        result = bench.RE(
            sar_measurement(
                bench.amf, bench.thermo, frequency=230e3, field=8.0, heat_time=300,
                cool_time=120, sample=VIAL_SAMPLE,
            )
        )  # fmt: skip
        assert result.exit_status == "success"
        analysis = bench.docs.stream("analysis")[0]["data"]
        assert analysis["sar_box_lucas_W_per_g"] == pytest.approx(true_sar, rel=0.1)
    finally:
        bench.close()


def test_photothermal_therapy_with_the_cni_laser(osensa_plugin, tmp_path):
    bench = sim_bench(BENCH, tmp_path)
    try:
        result = bench.RE(
            photothermal_therapy(bench.laser, bench.thermo, duration=300, target=40.0)
        )
        assert result.exit_status == "success"
        _, T = bench.docs.column("thermo_tumor")
        assert T.max() == pytest.approx(40.0, abs=0.6)
        _, irradiance = bench.docs.column("laser_irradiance")
        assert np.nanmax(irradiance) <= 1.5 + 1e-9  # the bench's limit
        assert not bench.twin.emulators["laser"].emission
    finally:
        bench.close()


def _run_with_fault(bench, plan, phase_code: int, inject) -> tuple[str, float]:
    """Run ``plan``; at the 3rd primary event of phase ``phase_code`` call ``inject()``.
    Returns the error (or "") and the clock time of the fault."""
    primary, seen, mark = set(), [0], {}

    def watch(name, doc):
        if name == "descriptor" and doc["name"] == "primary":
            primary.add(doc["uid"])
        if name != "event" or doc["descriptor"] not in primary or "t" in mark:
            return
        if doc["data"].get("control_phase") == phase_code:
            seen[0] += 1
            if seen[0] == 3:
                mark["t"] = bench.clock.now()
                inject()

    bench.RE.subscribe(watch)
    try:
        bench.RE(plan)
    except LabctlError as exc:
        return f"{type(exc).__name__}: {exc}", mark.get("t", math.nan)
    return "", mark.get("t", math.nan)


def _hyperthermia(bench):
    return magnetic_hyperthermia(
        bench.amf, bench.thermo, target=39.0, hold=60, frequency=230e3, max_field=12.0,
        ramp_rate=None, gains=FAST_GAINS,
    )  # fmt: skip


def test_supply_over_current_trip_ends_the_run_with_the_field_off(osensa_plugin, tmp_path):
    bench = sim_bench(BENCH, tmp_path)
    try:
        supply = bench.twin.emulators["amf"]
        error, t_fault = _run_with_fault(bench, _hyperthermia(bench), 3, supply.surge)
        assert not math.isnan(t_fault)
        stop = bench.docs.of("stop")[-1]
        assert error or stop["exit_status"] != "success"
        assert "POWER_ALARM" in error + str(stop) or "over-current" in error + str(stop)
        assert supply.field_kA_m() == 0.0 and not supply.outputs[1].on
        assert supply.outputs[1].trips  # latched until someone clears it
    finally:
        bench.close()


def test_missing_phosphor_probe_trips_the_safety_monitor(osensa_plugin, tmp_path):
    bench = sim_bench(BENCH, tmp_path)
    try:
        fault = Fault("probe_broken", "thermo", channel=1)
        error, _ = _run_with_fault(
            bench, _hyperthermia(bench), 2, lambda: bench.faults.inject(fault)
        )
        stop = bench.docs.of("stop")[-1]
        assert stop["exit_status"] != "success"
        text = error + str(stop)
        assert "thermo.tumor: no valid reading" in text
        assert bench.twin.emulators["amf"].field_kA_m() == 0.0
        assert bench.twin.emulators["thermo"].channel_data(1)["status"] == 1
    finally:
        bench.close()


def test_a_laser_that_stops_answering_is_reported_and_left_off(osensa_plugin, tmp_path):
    bench = sim_bench(BENCH, tmp_path)
    try:
        laser = bench.twin.emulators["laser"]
        plan = photothermal_therapy(
            bench.laser, bench.thermo, duration=120, target=39.0, ramp_rate=None, gains=FAST_GAINS
        )
        fault = Fault("drop", "laser", direction="out")
        error, t_fault = _run_with_fault(bench, plan, 3, lambda: bench.faults.inject(fault))
        stop = bench.docs.of("stop")[-1]
        assert stop["exit_status"] != "success"
        assert "no echo" in error + str(stop)
        assert not laser.emission  # the off frame still reached the controller
        assert bench.twin.world.truth().get("laser_power_W", 0.0) == 0.0
    finally:
        bench.close()


@pytest.mark.subprocess
@pytest.mark.parametrize(
    ("protocol", "bench", "short"),
    [
        ("magnetic-hyperthermia-43C.yaml", BENCH, {"target": 38.0, "hold": 20}),
        ("photothermal-therapy-808nm.yaml", BENCH, {"duration": 40}),
        ("sar-vial.yaml", VIAL_BENCH, {"heat_time": 100, "cool_time": 20}),
    ],
)
def test_example_protocols_run_with_labctl_run(osensa_plugin, tmp_path, protocol, bench, short):
    data = yaml.safe_load((EXAMPLES / "protocols" / protocol).read_text())
    data["steps"][0]["args"].update(short)
    path = tmp_path / protocol
    path.write_text(yaml.safe_dump(data))
    argv = ["run", str(path), "--bench", str(bench), "--sim", "--quiet"]
    assert main([*argv, "--data-dir", str(tmp_path / "data")]) == 0


def test_field_and_irradiance_beyond_the_bench_limits_send_nothing(osensa_plugin, tmp_path):
    from labctl.core.errors import LimitError

    bench = sim_bench(BENCH, tmp_path)
    try:
        amf_sent = len(bench.transports["amf"].log.sent())
        laser_sent = len(bench.transports["laser"].log.sent())
        with pytest.raises(LimitError):
            bench.amf.field.set(17.0).wait(timeout=10)  # field_max_kA_m 16
        with pytest.raises(LimitError):
            bench.amf.current.set(61.0).wait(timeout=10)  # amf_current_max_A 60 (coil A)
        with pytest.raises(LimitError):
            bench.laser.irradiance.set(1.6).wait(timeout=10)  # irradiance_max_W_cm2 1.5
        assert len(bench.transports["amf"].log.sent()) == amf_sent
        assert len(bench.transports["laser"].log.sent()) == laser_sent
        assert bench.twin.emulators["amf"].field_kA_m() == 0.0
        assert not bench.twin.emulators["laser"].emission
    finally:
        bench.close()
