"""Run reports: figures made from real (short, simulated) runs show what they claim."""

import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from labctl.analysis.dose import cem43  # noqa: E402
from labctl.bench import Bench  # noqa: E402
from labctl.data import read_run  # noqa: E402
from labctl.plans import (  # noqa: E402
    magnetic_hyperthermia,
    photothermal_conversion,
    photothermal_therapy,
    sar_measurement,
)
from labctl.report import make_report  # noqa: E402
from labctl.report.data import RunData  # noqa: E402
from labctl.report.figures import cem43_figure, output_figure, temperature_figure  # noqa: E402
from labctl.report.fits import recompute_pce, recompute_sar  # noqa: E402
from labctl.report.images import image_figures  # noqa: E402
from labctl.report.summary import describe_run  # noqa: E402

BENCHES = Path(__file__).resolve().parents[1] / "examples" / "benches"
VIAL = {
    "components": [{"mass_g": 1.0, "c_J_per_gK": 4.186}, {"mass_g": 1.0, "c_J_per_gK": 0.83}],
    "iron_mass_mg": 2.0,
}
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    out = {}
    with Bench.from_file(BENCHES / "sim-vial.yaml", data_dir=data) as b:
        b.RE(
            sar_measurement(
                b.amf,
                b.thermo,
                frequency=230000,
                field=8.0,
                heat_time=100,
                cool_time=20,
                equilibrate=0,
                baseline=10,
                sample=VIAL,
            )
        )
        out["sar"] = b.last_run_path
    with Bench.from_file(BENCHES / "sim-vial.yaml", data_dir=data) as b:
        b.RE(
            photothermal_conversion(
                b.laser,
                b.thermo,
                power=0.5,
                heat_time=300,
                cool_time=400,
                sample=VIAL,
                absorbance=1.21,
                period=4.0,
            )
        )
        out["pce"] = b.last_run_path
    with Bench.from_file(BENCHES / "sim-mouse.yaml", data_dir=data) as b:
        b.RE(
            magnetic_hyperthermia(
                b.amf,
                b.thermo,
                target=38.5,
                hold=30,
                frequency=230000,
                max_field=12,
                md={"animal_id": "M9", "study": "report-test"},
            )
        )
        out["mh"] = b.last_run_path
        b.RE(photothermal_therapy(b.laser, b.thermo, duration=60, irradiance=0.2, period=2.0))
        out["ptt"] = b.last_run_path
    return out


def lines_of(fig):
    return [
        (ln.get_label(), np.asarray(ln.get_xdata(), float), np.asarray(ln.get_ydata(), float))
        for ax in fig.axes
        for ln in ax.get_lines()
    ]


def test_temperature_figure_has_channels_target_and_limits(runs):
    data = RunData(read_run(runs["mh"]))
    fig = temperature_figure(data)
    labels = {label: (x, y) for label, x, y in lines_of(fig)}
    assert {"tumor", "rectal", "skin", "reference", "setpoint"} <= set(labels)
    x, y = labels["tumor"]
    assert x[0] == 0.0 and x[-1] > 30  # seconds from the first reading (run < 20 min)
    assert y.max() >= 38.5
    assert np.allclose(labels["target 38.5 C"][1], 38.5)
    assert np.allclose(labels["limit tumor 48 C"][1], 48.0)  # safety monitor settings
    assert "Temperatures: magnetic_hyperthermia" in fig.axes[0].get_title()
    # the field-on band spans the run
    assert any(p.get_label() == "field on" for p in fig.axes[0].patches)


def test_output_figures_show_field_and_laser_power(runs):
    mh = output_figure(RunData(read_run(runs["mh"])))
    labels = {label: y for label, _, y in lines_of(mh)}
    assert mh.axes[0].get_title() == "AMF field at 230 kHz"
    assert 0 < labels["field (readback)"].max() <= 12.0 + 0.1
    assert np.allclose(labels["max field 12 kA/m"], 12.0)
    ptt = output_figure(RunData(read_run(runs["ptt"])))
    labels = {label: y for label, _, y in lines_of(ptt)}
    assert ptt.axes[0].get_title() == "Laser power (808 nm)"
    area = read_run(runs["ptt"]).start["spot_area_cm2"]
    # open loop at 0.2 W/cm^2: the monitor reads about 0.2 * area W while emitting
    assert labels["laser power (monitor)"].max() == pytest.approx(0.2 * area, rel=0.05)


def test_cem43_curve_ends_at_the_plans_dose(runs):
    run = read_run(runs["mh"])
    data = RunData(run)
    fig = cem43_figure(data)
    tumor = next(y for label, _, y in lines_of(fig) if label.startswith("tumor"))
    s = data.series("thermo_tumor")
    assert tumor[-1] == pytest.approx(cem43(s.t, s.values))
    assert tumor[-1] == pytest.approx(data.result("cem43_min"), rel=0.02)
    assert cem43_figure(RunData(read_run(runs["sar"]))) is None  # calorimetry: no dose


def test_sar_recomputed_from_the_store_matches_the_live_analysis(runs):
    data = RunData(read_run(runs["sar"]))
    summary, t_on, t_off = recompute_sar(data)
    assert t_off - t_on == pytest.approx(100, abs=1)
    for method in ("initial_slope", "corrected_slope", "box_lucas"):
        assert getattr(summary, method).sar_W_per_g == pytest.approx(
            data.result(f"{method}_W_per_g"), rel=1e-9
        )
    assert 100 < summary.box_lucas.sar_W_per_g < 300


def test_pce_recomputed_from_the_store_matches_the_live_analysis(runs):
    data = RunData(read_run(runs["pce"]))
    result, t_on, t_off = recompute_pce(data)
    assert t_off - t_on == pytest.approx(300, abs=4)
    assert result.eta == pytest.approx(data.result("eta"), rel=1e-9)
    assert result.tau_s == pytest.approx(data.result("tau_s"), rel=1e-9)


def test_make_report_writes_pngs_and_an_index(runs, tmp_path):
    expected = {
        "sar": {"temperature", "output", "sar"},
        "pce": {"temperature", "output", "pce"},
        "mh": {"temperature", "output", "cem43"},
        "ptt": {"temperature", "output", "cem43"},
    }
    for name, path in runs.items():
        report = make_report(path, tmp_path / name, dpi=40)
        assert {Path(f.file).stem for f in report.figures} == expected[name]
        html = report.index.read_text()
        for f in report.figures:
            assert (tmp_path / name / f.file).read_bytes()[:8] == PNG
            assert f'src="{f.file}"' in html and f.title in html
    html = (tmp_path / "mh" / "index.html").read_text()
    assert "M9" in html and "report-test" in html and "cem43_min" in html
    sar_html = (tmp_path / "sar" / "index.html").read_text()
    assert "box_lucas_W_per_g" in sar_html


def test_default_report_directory_is_beside_the_store(runs):
    report = make_report(runs["sar"], dpi=40)
    assert report.out_dir == runs["sar"].with_name(runs["sar"].name[:-5] + "_report")
    assert report.index.exists()


def test_describe_run_lists_metadata_streams_and_results(runs):
    text = describe_run(read_run(runs["mh"]))
    assert "animal_id    M9" in text
    assert "primary" in text and "analysis" in text and "thermo_tumor [degC]" in text
    assert "cem43_min = " in text
    assert "ended" in text and "success" in text


@pytest.fixture
def image_run(tmp_path):
    """A run with 2-D frames (10 events) and a 3-plane stack per event, plus one-event maps."""
    import bluesky.plans as bp
    from bluesky import RunEngine
    from ophyd import Signal

    from labctl.data import RunWriter

    class Camera(Signal):
        def __init__(self, *args, planes=None, **kwargs):
            super().__init__(*args, **kwargs)
            self.n, self.planes = 0, planes

        def trigger(self):
            self.n += 1
            yy, xx = np.mgrid[0:24, 0:32]
            img = np.exp(-((xx - 3 * self.n) ** 2 + (yy - 12) ** 2) / 20.0)
            self.put(np.stack([img * (i + 1) for i in range(self.planes)]) if self.planes else img)
            return super().trigger()

    RE = RunEngine({})
    writer = RunWriter(tmp_path / "data")
    RE.subscribe(writer)
    frames = Camera(name="cam_image", value=np.zeros((24, 32)))
    stack = Camera(name="cam_stack", value=np.zeros((3, 24, 32)), planes=3)
    RE(bp.count([frames, stack], 10, md={"plan_args": {"wavelengths": [700, 800, 900]}}))
    path = writer.last_path
    so2 = Camera(name="maps_so2", value=np.zeros((24, 32)))
    hb = Camera(name="maps_hb", value=np.zeros((24, 32)))
    RE(bp.count([so2, hb], 1))
    return path, writer.last_path


def test_images_get_montages(image_run):
    frames_run, maps_run = image_run
    figs = dict(image_figures(RunData(read_run(frames_run))))
    assert set(figs) == {"images_primary_cam_image", "images_primary_cam_stack"}
    montage = figs["images_primary_cam_image"]
    shown = [ax for ax in montage.axes if ax.get_images()]
    assert len(shown) == 10
    # the blob moves right from frame to frame: its peak column increases
    peaks = [int(np.argmax(ax.get_images()[0].get_array().max(axis=0))) for ax in shown]
    assert peaks == sorted(peaks) and peaks[0] < peaks[-1]
    stack = figs["images_primary_cam_stack"]
    titles = [ax.get_title() for ax in stack.axes]
    assert {"700 nm", "800 nm", "900 nm"} <= set(titles)
    assert (
        "Image montage: primary/cam_stack (4 of 10 events x 3 of 3 planes)"
        in stack._suptitle.get_text()
    )
    maps = dict(image_figures(RunData(read_run(maps_run))))
    fig = maps["images_primary_maps"]
    assert [ax.get_title() for ax in fig.axes if ax.get_images()] == ["maps_so2", "maps_hb"]
    so2 = next(ax for ax in fig.axes if ax.get_title() == "maps_so2").get_images()[0]
    assert so2.get_clim() == (0.0, 1.0)


def test_report_of_an_image_run(image_run, tmp_path):
    report = make_report(image_run[0], tmp_path, dpi=40)
    assert [f.file for f in report.figures] == [
        "images_primary_cam_image.png",
        "images_primary_cam_stack.png",
    ]
    assert "temperature" in report.skipped
    assert all(math.isfinite((tmp_path / f.file).stat().st_size) for f in report.figures)
