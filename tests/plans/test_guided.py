"""OA thermometry calibration and the image-guided protocol on the simulated mouse bench."""

import numpy as np
import pytest
from bluesky import plan_stubs as bps

from labctl.core.errors import ConfigError, LimitError
from labctl.data import read_run
from labctl.plans import image_guided_hyperthermia, oa_thermometry_calibration
from tests.plans.conftest import _bench

PROBE = (0.0, 4.0)  # mm: the tumor probe's tip, at the centre of the 6 mm tumor


@pytest.fixture(scope="module")
def guided(tmp_path_factory):
    bench = _bench("sim-mouse.yaml", tmp_path_factory.mktemp("guided"))
    cal = bench.RE(
        oa_thermometry_calibration(
            bench.oa,
            bench.thermo,
            probe_position=PROBE,
            amf=bench.amf,
            frequency=230e3,
            field=8.0,
            duration=180.0,
            period=20.0,
        )
    ).plan_result
    cal_run = bench.last_run_path
    bench.RE(bps.sleep(600.0))  # the tumor cools back towards baseline
    truth_T = []
    cam = bench.twin.cameras["oa"]

    def record(name, doc):  # the true temperature at the probe whenever OA images it
        if name == "event_page" or name == "event":
            data = doc["data"]
            if "thermometry_T_oa_probe" in data:
                truth_T.append(bench.twin.world.temperature("tumor"))

    bench.RE.subscribe(record)
    result = bench.RE(
        image_guided_hyperthermia(
            bench.oa,
            bench.amf,
            bench.thermo,
            target=41.0,
            hold=60.0,
            frequency=230e3,
            max_field=12.0,
            probe_position=PROBE,
            calibration=cal,
            thermometry_period=20.0,
            ramp_rate=3.0,
            period=2.0,
        )
    ).plan_result
    yield bench, cal, cal_run, result, np.array(truth_T), cam
    bench.close()


def test_calibration_against_the_fiber_probe(guided):
    from labctl.simulators.physics.imaging import water_grueneisen

    bench, cal, cal_run, *_ = guided
    assert cal.n_points >= 5 and cal.T_range_C[1] - cal.T_range_C[0] > 2.0
    # the tumor is water: the slope is water's measured one, shallower than the linear law
    T0, T1 = cal.T_range_C
    water = (water_grueneisen(T1) - water_grueneisen(T0)) / (T1 - T0) / water_grueneisen(T0)
    assert cal.slope_per_K == pytest.approx(water, rel=0.05)
    assert cal.slope_per_K < 0.95 * cal.slope_theory_per_K
    assert cal.residual_C < 0.3
    run = read_run(cal_run)
    n_images = run.stream("primary")["thermometry_ratio"].shape[0]
    analysis = run.stream("analysis")
    assert analysis["oa_thermometry_n_points"].values[0] + analysis[
        "oa_thermometry_held_out_n"
    ].values[0] == pytest.approx(n_images)
    assert analysis["oa_thermometry_held_out_rms_C"].values[0] < 0.5
    assert run.stream("analysis")["oa_thermometry_slope_per_K"].values[0] == pytest.approx(
        cal.slope_per_K
    )
    assert not bench.twin.emulators["amf"].heating


def test_held_out_accuracy_over_37_to_45C(tmp_path):
    """Acceptance: calibrated on every other image while the tumor warms from 37 to 45 C,
    the held-out images read the probe within 0.5 C (the simulator forms images with
    water's measured Grueneisen curve, the analysis fits the linear law)."""
    bench = _bench("sim-mouse.yaml", tmp_path)
    try:
        bench.RE(
            oa_thermometry_calibration(
                bench.oa,
                bench.thermo,
                probe_position=PROBE,
                amf=bench.amf,
                frequency=230e3,
                field=10.0,
                duration=900.0,
                period=20.0,
            )
        )
        a = read_run(bench.last_run_path).stream("analysis")
        T_probe = read_run(bench.last_run_path).stream("primary")["thermometry_T_probe"].values
        assert T_probe.min() < 37.5 and T_probe.max() > 44.5
        assert a["oa_thermometry_held_out_n"].values[0] >= 20
        assert a["oa_thermometry_held_out_max_abs_C"].values[0] < 0.5
        print(
            f"\nOA thermometry held out: rms {a['oa_thermometry_held_out_rms_C'].values[0]:.3f} C, "
            f"max {a['oa_thermometry_held_out_max_abs_C'].values[0]:.3f} C over "
            f"{T_probe.min():.1f}-{T_probe.max():.1f} C"
        )
    finally:
        bench.close()


def test_oa_thermometry_follows_the_tumor_within_1C(guided):
    """Acceptance: OA temperatures at the probe track the tumor during heating."""
    bench, cal, cal_run, result, truth_T, cam = guided
    T_oa = np.asarray(result.thermometry["T_oa_probe"])
    T_probe = np.asarray(result.thermometry["T_probe"])
    assert len(T_oa) >= 5 and np.ptp(T_probe) > 3.0  # imaged through a 4 C rise
    assert np.abs(T_oa - T_probe).max() < 1.0
    assert np.abs(T_oa - truth_T[: len(T_oa)]).max() < 1.0
    print(
        f"\nOA thermometry: max |OA - probe| = {np.abs(T_oa - T_probe).max():.2f} C, "
        f"max |OA - true| = {np.abs(T_oa - truth_T[: len(T_oa)]).max():.2f} C "
        f"over {len(T_oa)} images, {T_probe.min():.1f}-{T_probe.max():.1f} C"
    )


def test_protocol_runs_end_to_end_and_stores_everything(guided):
    bench, cal, cal_run, result, truth_T, cam = guided
    assert result.summary.reason == "hold time completed"
    assert result.summary.T_max_C < 42.0
    truth = cam.truth()
    # the agent-rich region found before heating is the iron-loaded tumor
    assert truth["tumor"][result.pre.roi].mean() > 0.9
    assert result.pre.stats["agent_roi_mean"] == pytest.approx(
        bench.twin.sample.params.iron_mg_per_mL, rel=0.15
    )
    # after heating, imaged warm: the same iron (the Grueneisen map corrects for the heat)
    assert result.post.stats["agent_roi_mean"] == pytest.approx(
        result.pre.stats["agent_roi_mean"], rel=0.05
    )
    run = read_run(bench.last_run_path)
    assert run.streams == ["baseline", "oa_pre", "oa_thermometry", "primary", "oa_post", "analysis"]
    pre, post = run.stream("oa_pre"), run.stream("oa_post")
    assert pre["oa_stack"].shape == (1, 16, 128, 128)
    assert post["oa_post_iron_oxide"].shape == (1, 128, 128)
    assert (pre["oa_pre_roi"].values[0].astype(bool) == result.pre.roi).all()
    thermo = run.stream("oa_thermometry")
    assert thermo["thermometry_T_map"].shape == (len(result.thermometry["t"]), 128, 128)
    assert thermo["thermo_tumor"].shape[0] == thermo["thermometry_T_map"].shape[0]
    T_map = thermo["thermometry_T_map"].values[-1]
    assert np.nanmax(T_map[result.pre.roi]) > 40.0
    primary = run.stream("primary")
    assert primary["thermo_tumor"].max() > 40.5 and "control_setpoint" in primary
    analysis = run.stream("analysis")
    assert analysis["guided_thermometry_max_abs_C"].values[0] < 1.0
    assert analysis["guided_pre_agent_roi_mean"].values[0] == pytest.approx(
        result.pre.stats["agent_roi_mean"]
    )
    assert not bench.twin.emulators["amf"].heating


def test_protocol_checks_before_anything_is_sent(tmp_path):
    bench = _bench("sim-mouse.yaml", tmp_path)
    try:
        sent = len(bench.transports["amf"].log.sent())
        with pytest.raises(LimitError, match="H\\*f"):
            image_guided_hyperthermia(
                bench.oa, bench.amf, bench.thermo, target=42, hold=60, frequency=354e3, max_field=15
            )
        with pytest.raises(LimitError):
            image_guided_hyperthermia(
                bench.oa, bench.amf, bench.thermo, target=50, hold=60, frequency=230e3, max_field=10
            )
        with pytest.raises(ConfigError, match="wavelengths"):
            image_guided_hyperthermia(
                bench.oa,
                bench.amf,
                bench.thermo,
                target=42,
                hold=60,
                frequency=230e3,
                max_field=10,
                wavelengths=[700, 800],
            )
        assert len(bench.transports["amf"].log.sent()) == sent
    finally:
        bench.close()
