"""Hyperthermia plans on the lockstep simulated benches, checked against the physics."""

import numpy as np
import pytest

from labctl.analysis.dose import cem43
from labctl.core.errors import ConfigError, LimitError
from labctl.plans import magnetic_hyperthermia, sar_measurement

VIAL_SAMPLE = {
    "components": [{"mass_g": 1.0, "c_J_per_gK": 4.186}, {"mass_g": 1.0, "c_J_per_gK": 0.83}],
    "iron_mass_mg": 2.0,
}


def true_sar_W_per_g(bench, frequency_Hz, field_kA_m):
    world = bench.twin.world
    world.set_amf(frequency_Hz, field_kA_m * 1e3)
    truth = world.truth()
    world.set_amf(frequency_Hz, 0.0)
    return truth["sar_W_per_g_Fe"], truth


def test_sar_three_methods_recover_the_true_sar(vial_bench):
    bench = vial_bench
    result = bench.RE(
        sar_measurement(
            bench.amf,
            bench.thermo,
            frequency=230e3,
            field=8.0,
            heat_time=300,
            cool_time=120,
            sample=VIAL_SAMPLE,
        )
    ).plan_result
    true_sar, truth = true_sar_W_per_g(bench, 230e3, 8.0)
    for method in (result.initial_slope, result.corrected_slope, result.box_lucas):
        assert method is not None
        assert method.sar_W_per_g == pytest.approx(true_sar, rel=0.05), method.method
    # ILP per kg Fe, the simulator's truth in the same normalisation
    assert result.box_lucas.ilp_nH_m2_per_kg_Fe == pytest.approx(
        truth["ilp_nH_m2_per_kg_Fe"], rel=0.05
    )
    analysis = bench.docs.stream("analysis")
    assert len(analysis) == 1
    stored = analysis[0]["data"]
    assert stored["sar_box_lucas_W_per_g"] == pytest.approx(result.box_lucas.sar_W_per_g)
    assert stored["sar_initial_slope_ilp_nH_m2_per_kg_Fe"] > 0
    for method in ("initial_slope", "corrected_slope", "box_lucas"):
        r = getattr(result, method)
        assert stored[f"sar_{method}_u95_W_per_g"] == pytest.approx(r.sar_u95_W_per_g)
        assert abs(r.sar_W_per_g - true_sar) <= r.sar_u95_W_per_g
        assert stored[f"sar_{method}_u_iron_mass_percent"] == pytest.approx(4.0)
        assert stored[f"sar_{method}_bias"] == r.bias
    # the field is off at the end, asked of the emulator
    assert not bench.twin.emulators["amf"].heating


def test_sar_refuses_bad_sample_and_limits_before_anything_is_sent(vial_bench):
    bench = vial_bench
    sent = len(bench.transports["amf"].log.sent())
    with pytest.raises(ConfigError, match="iron mass"):
        sar_measurement(
            bench.amf,
            bench.thermo,
            frequency=230e3,
            field=8,
            heat_time=10,
            cool_time=10,
            sample={"heat_capacity_J_per_K": 5},
        )
    with pytest.raises(LimitError, match="H\\*f"):
        sar_measurement(
            bench.amf,
            bench.thermo,
            frequency=354e3,
            field=15,
            heat_time=10,
            cool_time=10,
            sample=VIAL_SAMPLE,
        )
    assert len(bench.transports["amf"].log.sent()) == sent


@pytest.fixture(scope="module")
def hyperthermia_run(tmp_path_factory):
    from tests.plans.conftest import _bench

    bench = _bench("sim-mouse.yaml", tmp_path_factory.mktemp("ht"))
    result = bench.RE(
        magnetic_hyperthermia(
            bench.amf,
            bench.thermo,
            target=43,
            hold=1800,
            frequency=230e3,
            max_field=12,
            tumor_map=bench.tumor_map,
        )
    )
    yield bench, result
    bench.close()


def test_hyperthermia_reaches_and_holds_43C(hyperthermia_run):
    bench, result = hyperthermia_run
    assert result.exit_status == "success"
    t, T = bench.docs.column("thermo_tumor")
    assert T[0] == pytest.approx(37.0, abs=0.3)
    reached = np.argmax(T >= 43.0)
    assert T[reached] >= 43.0
    assert T.max() <= 43.5  # overshoot at most 0.5 C
    t_reach = t[reached]
    window = (t >= t_reach + 300) & (t <= t_reach + 1800)
    assert t[-1] >= t_reach + 1800 - 1.5  # recorded until 30 min after first reaching 43 C
    assert np.abs(T[window] - 43.0).max() <= 0.3
    # the rectal (core) probe warms far less than the tumor
    _, rectal = bench.docs.column("thermo_rectal")
    assert rectal.max() - rectal[0] < 0.5 * (T.max() - T[0])


def test_hyperthermia_dose_is_recorded_and_recomputable(hyperthermia_run):
    bench, _ = hyperthermia_run
    t, T = bench.docs.column("thermo_tumor")
    _, dose = bench.docs.column("control_cem43")
    assert dose[-1] == pytest.approx(cem43(t, T), rel=1e-9)
    assert dose[-1] > 25.0  # ~30 min at 43 C
    stored = bench.docs.stream("analysis")[0]["data"]
    assert stored["hyperthermia_cem43_min"] == pytest.approx(dose[-1])


def test_hyperthermia_reports_the_dose_of_the_tumor_beside_the_probe(hyperthermia_run):
    """Centre held at 43 C for 30 min: most of the tumor is cooler (PHYSICS.md 6 gives
    T90 about 41.3 C and CEM43T90 about 2.9 min for this model)."""
    bench, _ = hyperthermia_run
    stored = bench.docs.stream("analysis")[0]["data"]
    probe = stored["hyperthermia_cem43_min"]
    T90, T50 = stored["hyperthermia_T90_C"], stored["hyperthermia_T50_C"]
    assert 40.5 < T90 < T50 < 43.0
    assert 1.0 < stored["hyperthermia_cem43_T90_min"] < stored["hyperthermia_cem43_T50_min"]
    assert stored["hyperthermia_cem43_T50_min"] < 0.5 * probe
    # CEM43T90 is the dose of the recorded T90(t) column
    t, t90 = bench.docs.column("tumor_map_T90")
    assert stored["hyperthermia_cem43_T90_min"] == pytest.approx(cem43(t, t90), rel=1e-9)
    # at 43 C the Arrhenius (ablation) damage is negligible everywhere
    assert stored["hyperthermia_arrhenius_omega_max"] < 0.1
    assert "ground truth" in stored["hyperthermia_tumor_map_source"]
    # the hottest element is the centre the probe holds at 43 C
    _, tmax = bench.docs.column("tumor_map_Tmax")
    _, probe_T = bench.docs.column("thermo_tumor")
    assert np.median(tmax[-600:]) == pytest.approx(np.median(probe_T[-600:]), abs=0.3)


def test_hyperthermia_never_exceeds_max_field_and_ends_off(hyperthermia_run):
    bench, _ = hyperthermia_run
    _, command = bench.docs.column("control_command")
    _, field = bench.docs.column("amf_field")
    assert command.max() <= 12.0 + 1e-9
    assert field.max() <= 12.0 * 1.02  # readback noise on the measured current
    assert not bench.twin.emulators["amf"].heating
    assert bench.twin.world.truth()["field_A_m"] == 0.0


def test_hyperthermia_stops_on_cem43_target(mouse_bench):
    bench = mouse_bench
    result = bench.RE(
        magnetic_hyperthermia(
            bench.amf,
            bench.thermo,
            target=43,
            hold=1800,
            frequency=230e3,
            max_field=12,
            stop_on="cem43",
            cem43_target=10.0,
        )
    )
    _, dose = bench.docs.column("control_cem43")
    assert dose[-1] == pytest.approx(10.0, rel=0.01)
    assert result.plan_result.reason == "CEM43 target reached"
    assert not bench.twin.emulators["amf"].heating


def test_hyperthermia_refuses_limits_up_front(mouse_bench):
    bench = mouse_bench
    with pytest.raises(LimitError):
        magnetic_hyperthermia(
            bench.amf, bench.thermo, target=43, hold=60, frequency=354e3, max_field=15
        )
    with pytest.raises(LimitError, match="tumor"):
        magnetic_hyperthermia(
            bench.amf, bench.thermo, target=50, hold=60, frequency=230e3, max_field=12
        )
    with pytest.raises(ConfigError, match="cem43_target"):
        magnetic_hyperthermia(
            bench.amf,
            bench.thermo,
            target=43,
            hold=60,
            frequency=230e3,
            max_field=12,
            stop_on="cem43",
        )
