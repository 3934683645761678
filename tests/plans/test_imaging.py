"""Imaging plans on the lockstep simulated mouse bench, checked against the sample model."""

import numpy as np
import pytest

from labctl.bench import Bench
from labctl.config.bench_file import load_bench_config
from labctl.core.errors import ConfigError
from labctl.data import read_run
from labctl.plans import fluorescence_timecourse, multispectral_optoacoustic, stream_frames
from labctl.plans.imaging import DEFAULT_OA_WAVELENGTHS
from tests.plans.conftest import BENCHES, Documents

H = 3600.0


def mouse_bench(tmp_path, *, safety=True, **sample):
    config = load_bench_config(BENCHES / "sim-mouse.yaml")
    config.sample = {"kind": "mouse_tumor", **sample}
    config.safety.enabled = safety
    bench = Bench(config, data_dir=tmp_path / "data")
    bench.docs = Documents()
    bench.RE.subscribe(bench.docs)
    return bench


def test_unmixing_recovers_the_true_agent_map_and_so2(tmp_path):
    """Acceptance: a mouse 24 h after an intravenous agent (no iron), 680-980 nm."""
    bench = mouse_bench(tmp_path, iron_mg_per_mL=0.0, agent_dose=2.0, agent_injected_h_before=24.0)
    try:
        result = bench.RE(
            multispectral_optoacoustic(
                bench.oa, wavelengths=DEFAULT_OA_WAVELENGTHS, averages=1, agent="icg"
            )
        ).plan_result
        truth = bench.twin.cameras["oa"].truth()
        tumor = (truth["tumor"] > 0.99) & result.valid
        assert tumor.sum() > 500  # most of the 6 mm tumor is quantifiable
        r = np.corrcoef(result.maps["icg"][tumor], truth["agent"][tumor])[0, 1]
        assert r >= 0.95
        so2_tumor = np.nanmean(result.so2[tumor])
        assert so2_tumor == pytest.approx(truth["sO2"][tumor].mean(), abs=0.05)
        tissue = (truth["tumor"] == 0) & result.valid
        assert np.nanmean(result.so2[tissue]) == pytest.approx(0.8, abs=0.05)
        # the agent-rich ROI is in the tumor, and the run holds the maps and the statistics
        assert truth["tumor"][result.roi].mean() > 0.9
        run = read_run(bench.last_run_path)
        assert run.streams == ["primary", "unmixed", "analysis"]
        maps = run.stream("unmixed")
        assert maps["unmixed_icg"].shape == (1, 128, 128)
        assert maps["unmixed_roi"].values[0].astype(bool).sum() == result.roi.sum()
        assert run.stream("primary")["oa_stack"].shape == (1, 16, 128, 128)
        stats = run.stream("analysis")
        assert stats["oa_agent_roi_mean"].values[0] == pytest.approx(result.stats["agent_roi_mean"])
        print(
            f"\nunmixing: r = {r:.4f}, sO2 tumor {so2_tumor:.3f} "
            f"(true {truth['sO2'][tumor].mean():.3f})"
        )
    finally:
        bench.close()


def test_so2_under_an_iron_oxide_depot_is_flagged_or_covers_the_truth(tmp_path):
    """The multispectral example: 5 mg Fe/mL in the tumor makes sO2 there ill-conditioned
    (the agent's spectrum is nearly flat); the ROI's sO2 is reported with an uncertainty
    that covers the truth, or as not identifiable, and outside the agent it is right."""
    bench = mouse_bench(tmp_path)
    wavelengths = list(range(680, 981, 20))
    try:
        result = bench.RE(
            multispectral_optoacoustic(
                bench.oa,
                wavelengths=wavelengths,
                averages=4,
                agent="iron_oxide",
                absorbers=["Hb", "HbO2", "water"],
            )
        ).plan_result
        truth = bench.twin.cameras["oa"].truth()
        stats = result.stats
        assert stats["background_fitted"] == 0.0  # collinear with the agent: not fitted
        true_roi = truth["sO2"][result.roi].mean()
        if np.isfinite(stats["so2_roi_mean"]):
            assert abs(stats["so2_roi_mean"] - true_roi) <= 2 * stats["so2_roi_std"]
        else:
            assert stats["so2_roi_identifiable"] < 0.5
        outside = (truth["tumor"] == 0) & np.isfinite(result.so2)
        assert outside.sum() > 3000
        assert np.mean(result.so2[outside]) == pytest.approx(truth["sO2"][outside].mean(), abs=0.05)
        stored = read_run(bench.last_run_path).stream("unmixed")
        assert stored["unmixed_so2_std"].shape == (1, 128, 128)
    finally:
        bench.close()


def test_multispectral_plan_refuses_bad_arguments_before_running(tmp_path):
    bench = mouse_bench(tmp_path)
    try:
        with pytest.raises(ConfigError, match="distinct"):
            multispectral_optoacoustic(bench.oa, wavelengths=[800, 800])
        with pytest.raises(ConfigError, match="at least as many wavelengths"):
            multispectral_optoacoustic(bench.oa, wavelengths=[750, 800, 850], agent="icg")
        with pytest.raises(ConfigError, match="averages"):
            multispectral_optoacoustic(bench.oa, averages=0)
        assert bench.docs.docs == []
    finally:
        bench.close()


@pytest.mark.slow
def test_streaming_1000_frames_at_100_fps_into_the_run(tmp_path):
    """Acceptance: 640x512 uint16 at a simulated 100 frames/s, none dropped."""
    bench = mouse_bench(tmp_path, agent_dose=2.0)
    try:
        fluo = bench.fluo
        fluo.exposure.set(0.008).wait()  # + 2 ms readout: 10 ms per frame
        assert fluo.frame_period.get() == pytest.approx(0.01)
        t0 = bench.clock.now()
        counts = bench.RE(stream_frames(fluo, frames=1000, flush_period=0.5)).plan_result
        assert counts == {"written": 1000, "skipped": 0, "on_disk": 1000}
        assert bench.clock.now() - t0 == pytest.approx(10.0, abs=0.05)
        run = read_run(bench.last_run_path)
        ds = run.stream("fluo")
        frames = ds["fluo_frame"]
        assert frames.shape == (1000, 512, 640) and frames.dtype == np.uint16
        assert (ds.seq_num.values == np.arange(1, 1001)).all()
        stamps = run.timestamps("fluo")["fluo_frame"].values
        assert np.diff(stamps) == pytest.approx(np.full(999, 0.01), abs=1e-5)
        assert stamps[0] - t0 == pytest.approx(0.01, abs=1e-5)
        last = frames[999].values.astype(float)
        assert last[256, 320] > last[5, 5] + 50  # the tumor glows in the last frame too
        names = [n for n, _ in bench.docs.docs]
        assert "event" not in names and names.count("stream_datum") <= 25
    finally:
        bench.close()


def test_a_48_hour_timecourse_runs_under_the_safety_monitor(tmp_path):
    """Nothing energized: the monitor watches the thermometer at its idle pace, so two
    days of virtual time take seconds and every check passes."""
    bench = mouse_bench(tmp_path, iron_mg_per_mL=0.0)
    try:
        with bench.twin.world.lock:
            bench.twin.world.sync()
            bench.twin.world.sample.inject(2.0)
        t_inj = bench.clock.now()
        result = bench.RE(
            fluorescence_timecourse(
                bench.fluo, times_post_injection=[1 * H, 48 * H], injection_time=t_inj
            )
        )
        monitor = bench.safety
        assert result.exit_status == "success" and monitor.trips == []
        assert monitor.checks >= 47 * H / monitor.idle_period_s
        assert bench.clock.now() - t_inj >= 48 * H
    finally:
        bench.close()


def test_fluorescence_timecourse_shows_accumulation_and_washout(tmp_path):
    """Acceptance: images at 1, 4, 24 and 48 h post-injection follow the model."""
    bench = mouse_bench(tmp_path, safety=False, iron_mg_per_mL=0.0)
    try:
        world = bench.twin.world
        with world.lock:
            world.sync()
            world.sample.inject(2.0)
        t_inj = bench.clock.now()
        hours = [1, 4, 24, 48]
        out = bench.RE(
            fluorescence_timecourse(
                bench.fluo, times_post_injection=[h * H for h in hours], injection_time=t_inj
            )
        ).plan_result
        assert out["time_post_injection"] / H == pytest.approx(hours, abs=0.01)
        specific = out["specific"]
        assert specific[0] < specific[1] < specific[2] and specific[3] < specific[2]
        assert out["tbr"][0] < out["tbr"][1] < out["tbr"][2]
        model = np.array([world.sample.agent.tumor(t_inj - world._t0 + h * H) for h in hours])
        assert np.argmax(model) == np.argmax(specific) == 2
        # from the peak, the wash-out matches the model's interstitial clearance
        assert specific[3] / specific[2] == pytest.approx(model[3] / model[2], abs=0.1)
        run = read_run(bench.last_run_path)
        assert run.stream("primary")["fluo_image"].shape == (4, 512, 640)
        assert run.stream("analysis")["timecourse_tbr"].values[0] == pytest.approx(out["tbr"])
        with pytest.raises(ConfigError, match="increasing"):
            fluorescence_timecourse(bench.fluo, times_post_injection=[4 * H, 1 * H])
    finally:
        bench.close()
