"""Photothermal plans on the lockstep simulated benches, checked against the physics."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from labctl.analysis.dose import cem43
from labctl.core.errors import ConfigError, LimitError
from labctl.plans import photothermal_conversion, photothermal_therapy

BENCHES = Path(__file__).resolve().parents[2] / "examples" / "benches"

VIAL_SAMPLE = {
    "components": [{"mass_g": 1.0, "c_J_per_gK": 4.186}, {"mass_g": 1.0, "c_J_per_gK": 0.83}],
}


def laser_truth(bench, power_W):
    """The simulated sample's ground truth with the laser at ``power_W`` (then off)."""
    laser = bench.laser
    world = bench.twin.world
    world.set_laser(power_W, laser.wavelength_nm, laser.spot_area_cm2)
    truth = world.truth()
    world.set_laser(0.0, laser.wavelength_nm, laser.spot_area_cm2)
    return truth


def pce_run(bench, power, absorbance, **kw):
    return bench.RE(
        photothermal_conversion(
            bench.laser,
            bench.thermo,
            power=power,
            heat_time=1800,
            cool_time=1200,
            sample=VIAL_SAMPLE,
            absorbance=absorbance,
            period=2.0,
            **kw,
        )
    ).plan_result


def test_pce_with_a_solvent_blank_recovers_the_true_efficiency(vial_bench, tmp_path):
    from labctl.bench import Bench
    from labctl.config.bench_file import load_bench_config

    config = load_bench_config(BENCHES / "sim-vial-solvent.yaml")
    with Bench(config, subscribe_writer=False) as solvent:
        blank = pce_run(solvent, 0.5, None, solvent_only=True)
        solvent_truth = laser_truth(solvent, 0.5)
    # the blank is the solvent's plateau rise (the same cuvette as the sample)
    expected = solvent_truth["T_plateau_C"] - solvent_truth["T_amb_C"]
    assert blank.delta_T_C == pytest.approx(expected, abs=3 * blank.delta_T_std_C + 0.01)
    # the blank recorded in the example protocol agrees with a fresh blank run
    example = yaml.safe_load(
        (BENCHES.parent / "protocols" / "photothermal-conversion-efficiency.yaml").read_text()
    )["steps"][0]["args"]["blank"]
    assert example["delta_T_C"] == pytest.approx(blank.delta_T_C, abs=3 * blank.delta_T_std_C)
    bench = vial_bench
    truth = laser_truth(bench, 0.5)
    result = pce_run(
        bench,
        0.5,
        truth["absorbance"],
        blank={"delta_T_C": blank.delta_T_C, "delta_T_std_C": blank.delta_T_std_C, "power_W": 0.5},
    )
    assert result.q_dis_W == pytest.approx(truth["q_dis_W"], rel=0.1)
    assert result.eta == pytest.approx(truth["pce"], rel=0.02)
    assert abs(result.eta - truth["pce"]) <= result.eta_u95
    assert result.plateau_reached
    stored = bench.docs.stream("analysis")[0]["data"]
    assert stored["pce_eta"] == pytest.approx(result.eta)
    assert stored["pce_eta_u95"] == pytest.approx(2 * result.eta_std)
    assert stored["pce_u_laser_power_percent"] == pytest.approx(3.0)
    assert not bench.twin.emulators["laser"].emission_on
    _, power_readback = bench.docs.column("laser_power")
    assert power_readback.max() == pytest.approx(0.5, rel=0.05)


def test_pce_short_heating_is_flagged_and_storage_corrected(vial_bench):
    truth = laser_truth(vial_bench, 0.5)
    result = vial_bench.RE(
        photothermal_conversion(
            vial_bench.laser,
            vial_bench.thermo,
            power=0.5,
            heat_time=600,
            cool_time=1200,
            sample=VIAL_SAMPLE,
            absorbance=truth["absorbance"],
            q_dis=truth["q_dis_W"],
            period=2.0,
        )
    ).plan_result
    assert not result.plateau_reached and result.storage_W > 0
    stored = vial_bench.docs.stream("analysis")[0]["data"]
    assert "no plateau" in stored["pce_warning"]
    corrected = result.eta + result.storage_W / result.absorbed_power_W
    assert abs(result.eta / truth["pce"] - 1) > 0.1
    assert corrected == pytest.approx(truth["pce"], rel=0.05)


def test_ptt_open_loop_at_fixed_irradiance_records_dose(mouse_bench):
    bench = mouse_bench
    result = bench.RE(photothermal_therapy(bench.laser, bench.thermo, duration=300, irradiance=0.3))
    t, T = bench.docs.column("thermo_tumor")
    assert T[-1] > T[0] + 1.0  # the tumor warms under 0.3 W/cm^2 (about the skin MPE)
    assert t[-1] - t[0] == pytest.approx(300, abs=2)
    _, irradiance = bench.docs.column("laser_irradiance")
    assert irradiance[len(irradiance) // 2] == pytest.approx(0.3, rel=0.05)
    assert result.plan_result.cem43_min >= 0
    assert not bench.twin.emulators["laser"].emission_on


def test_ptt_closed_loop_holds_target(mouse_bench):
    bench = mouse_bench
    bench.RE(
        photothermal_therapy(
            bench.laser, bench.thermo, duration=900, target=41.0, max_irradiance=1.5
        )
    )
    t, T = bench.docs.column("thermo_tumor")
    late = t >= t[0] + 600
    assert np.abs(T[late] - 41.0).max() < 0.5
    _, irradiance = bench.docs.column("laser_irradiance")
    assert irradiance.max() <= 1.5 * 1.02
    assert not bench.twin.emulators["laser"].emission_on


def test_ptt_hold_at_target_and_every_probe_dose(mouse_bench):
    bench = mouse_bench
    summary = bench.RE(
        photothermal_therapy(
            bench.laser, bench.thermo, target=42.0, hold=300, duration=1500, max_irradiance=1.0
        )
    ).plan_result
    assert summary.reason == "hold time completed"
    stored = bench.docs.stream("analysis")[0]["data"]
    assert stored["photothermal_time_at_target_s"] == pytest.approx(300, abs=1.5)
    for role in ("tumor", "skin", "rectal"):
        t, T = bench.docs.column(f"thermo_{role}")
        assert stored[f"photothermal_cem43_{role}_min"] == pytest.approx(cem43(t, T), rel=0.02)
        assert stored[f"photothermal_T_max_{role}_C"] == pytest.approx(T.max())
    # under surface irradiation the skin is dosed more than the tumor it heats
    assert stored["photothermal_cem43_skin_min"] > 2 * stored["photothermal_cem43_tumor_min"]


def test_ptt_skin_guard_limits_the_power(mouse_bench):
    bench = mouse_bench
    guard = {"channel": "skin", "target": 41.0}
    summary = bench.RE(
        photothermal_therapy(
            bench.laser,
            bench.thermo,
            target=42.0,
            hold=300,
            duration=900,
            max_irradiance=1.0,
            guard=guard,
        )
    ).plan_result
    t, T_skin = bench.docs.column("thermo_skin")
    assert T_skin.max() < 41.0 + 0.5
    assert summary.guard_limited_s > 300
    stored = bench.docs.stream("analysis")[0]["data"]
    assert stored["photothermal_guard_limited_s"] == pytest.approx(summary.guard_limited_s)
    # the skin holds its own target, so the tumor (deeper, cooler) stays below 42 C
    assert "before reaching the target" in summary.reason
    late = t >= t[0] + 600
    assert np.abs(T_skin[late] - 41.0).max() < 0.5
    assert not bench.twin.emulators["laser"].emission_on
    with pytest.raises(ConfigError, match="guard"):
        photothermal_therapy(bench.laser, bench.thermo, target=42.0, hold=60, guard={"x": 1})


def test_ptt_refuses_bad_requests_before_anything_is_sent(mouse_bench):
    bench = mouse_bench
    sent = len(bench.transports["laser"].log.sent())
    with pytest.raises(LimitError, match="irradiance"):
        photothermal_therapy(bench.laser, bench.thermo, duration=60, irradiance=5.0)
    with pytest.raises(ConfigError, match="exactly one"):
        photothermal_therapy(bench.laser, bench.thermo, duration=60)
    with pytest.raises(ConfigError, match="absorbance"):
        photothermal_conversion(
            bench.laser,
            bench.thermo,
            power=0.5,
            heat_time=10,
            cool_time=10,
            sample=VIAL_SAMPLE,
            absorbance=0,
        )
    assert len(bench.transports["laser"].log.sent()) == sent
