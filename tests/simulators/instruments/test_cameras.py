"""Simulated cameras: pylablib's interface semantics and the physics of their frames."""

import threading

import numpy as np
import pytest

from labctl.core.clock import SimClock
from labctl.core.errors import InstrumentError
from labctl.simulators.instruments.fluo_camera import SimFluorescenceCamera
from labctl.simulators.instruments.oa_camera import SimMSOT
from labctl.simulators.physics.imaging import grueneisen
from labctl.simulators.physics.tumor import MouseTumor, TumorParams
from labctl.simulators.physics.world import SimWorld


def world(mode="lockstep", **params):
    params.setdefault("agent_dose", 2.0)
    return SimWorld(SimClock(mode), MouseTumor(TumorParams(**params)))


def small_fluo(w, **kw):
    cam = SimFluorescenceCamera(w, **kw)
    cam.set_roi(hbin=8, vbin=8)  # 80 x 64 pixels: fast frames
    return cam


def test_oa_sweep_one_wavelength_per_pulse():
    w = world()
    cam = SimMSOT(w, shape=(32, 48), wavelengths=[700, 800, 900])
    t0 = w.clock.now()
    frames, infos = cam.grab(6, return_info=True)
    assert [i.meta["wavelength_nm"] for i in infos] == [700, 800, 900] * 2
    assert [i.frame_index for i in infos] == list(range(6))
    assert np.diff([i.timestamp for i in infos]) == pytest.approx([0.1] * 5, abs=1e-5)
    assert w.clock.now() - t0 == pytest.approx(0.6, abs=1e-5)
    assert frames[0].shape == (32, 48) and frames[0].dtype == np.float32
    assert cam.get_data_dimensions() == (32, 48) and cam.get_detector_size() == (48, 32)
    with pytest.raises(InstrumentError, match="680-980"):
        cam.set_wavelengths([1064])
    with pytest.raises(InstrumentError, match="exposure"):
        cam.set_exposure(0.01)


def test_oa_frames_are_grueneisen_mu_a_fluence_with_noise_and_follow_heating():
    w = world(agent_dose=0.0)
    quiet = SimMSOT(w, name="quiet", shape=(64, 64), noise_kPa=0.0)
    noisy = SimMSOT(w, name="noisy", shape=(64, 64), noise_kPa=0.2)
    a, b = noisy.grab(2)
    assert np.std(a - b) == pytest.approx(0.2 * np.sqrt(2), rel=0.05)
    clean = quiet.snap()
    assert np.mean(a) == pytest.approx(np.mean(clean), abs=0.01)
    roi = (slice(12, 20), slice(28, 36))  # in the tumor, ~2 mm deep
    T0 = quiet.truth()["T_C"][roi].mean()
    w.set_amf(230e3, 8e3)
    w.clock.advance(300.0)
    w.set_amf(230e3, 0.0)
    T1 = quiet.truth()["T_C"][roi].mean()
    hot = quiet.snap()
    assert T1 > T0 + 3
    assert hot[roi].mean() / clean[roi].mean() == pytest.approx(
        grueneisen(T1) / grueneisen(T0),
        rel=0.01,  # the tumor: no lipid
    )


def test_oa_truth_and_spectral_library():
    w = world(iron_mg_per_mL=0.0)
    cam = SimMSOT(w, shape=(128, 128))
    truth = cam.truth()
    inside = truth["tumor"] > 0.99
    assert truth["sO2"][inside] == pytest.approx(0.6, abs=0.01)
    assert truth["agent"][inside].mean() > 10 * truth["agent"][truth["tumor"] == 0].mean()
    lib = cam.spectra([750.0, 850.0], ("Hb", "HbO2", "icg"))
    assert lib["Hb"][0] > lib["HbO2"][0] and lib["Hb"][1] < lib["HbO2"][1]  # isosbestic ~800
    g = cam.geometry()
    assert g["pixel_mm"] == 0.15 and g["z0_mm"] == pytest.approx(0.075)
    cam.set_roi(32, 96, 0, 64, 2, 2)
    assert cam.snap().shape == (32, 32)
    assert cam.geometry()["pixel_mm"] == pytest.approx(0.3)


def test_ring_buffer_overflows_when_nobody_reads():
    w = world()
    cam = small_fluo(w, exposure_s=0.008)
    cam.start_acquisition(mode="sequence", nframes=5)
    w.clock.advance(10 * cam.get_frame_period() + 1e-6)
    status = cam.get_frames_status()
    assert (status.acquired, status.unread, status.skipped, status.buffer_size) == (10, 5, 5, 5)
    frames, infos = cam.read_multiple_images(rng=(0, 10), missing_frame="none", return_info=True)
    assert frames[:5] == [None] * 5 and [i.frame_index for i in infos[5:]] == [5, 6, 7, 8, 9]
    assert cam.read_multiple_images() == []
    cam.stop_acquisition()
    assert not cam.acquisition_in_progress()
    assert cam.wait_for_frame() is False  # stopped: nothing to wait for


def test_wait_for_frame_semantics_and_timeout():
    w = world()
    cam = small_fluo(w, exposure_s=0.048)  # 50 ms per frame
    cam.start_acquisition()
    assert cam.wait_for_frame(since="start", nframes=3)
    assert cam.get_frames_status().acquired == 3
    assert cam.wait_for_frame(since="lastread", nframes=4)  # nothing read yet: 4 frames
    assert cam.get_frames_status().acquired == 4
    assert len(cam.read_multiple_images()) == 4
    assert cam.wait_for_frame(since="now", nframes=2)
    assert cam.get_frames_status().acquired == 6
    with pytest.raises(TimeoutError):
        cam.wait_for_frame(nframes=10, timeout=0.1)
    cam.stop_acquisition()


def test_lockstep_producer_waits_for_a_reader_thread():
    w = world()
    cam = small_fluo(w, exposure_s=0.008, backpressure_s=10.0)
    cam.start_acquisition(mode="sequence", nframes=3)
    got, registered, done = [], threading.Event(), threading.Event()

    def reader():
        while len(got) < 40:
            _, infos = cam.read_multiple_images(return_info=True)
            registered.set()
            got.extend(i.frame_index for i in infos)
            done.wait(0.002)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    assert registered.wait(5.0)
    w.clock.advance(40 * cam.get_frame_period() + 1e-6)
    t.join(10.0)
    done.set()
    assert got == list(range(40))
    assert cam.get_frames_status().skipped == 0
    cam.stop_acquisition()


def test_realtime_frames_arrive_on_the_clock_thread():
    w = world("realtime")
    cam = small_fluo(w, exposure_s=0.001)
    cam.start_acquisition(mode="sequence", nframes=4)
    assert w.clock.wait_until(lambda: cam.get_frames_status().acquired >= 12, timeout_s=30.0)
    cam.stop_acquisition()
    status = cam.get_frames_status()
    assert status.unread == 4 and status.skipped == status.acquired - 4


def test_fluorescence_counts_physics():
    w = world()
    cam = small_fluo(w, exposure_s=0.01)
    e1 = cam.expected_electrons()
    cam.set_exposure(0.03)
    e3 = cam.expected_electrons()
    assert e3 == pytest.approx(3 * e1, rel=1e-9)
    center = e1[32, 40]
    assert center > 5 * e1[2, 2]  # the tumor glows 24 h after injection
    # NIR-II (InGaAs, LP1000) collects a few % of what NIR-I (silicon, LP830) would
    si = small_fluo(w, name="si", sensor="sCMOS", exposure_s=0.01)
    si.set_roi(0, 2048, 0, 2048, 32, 32)  # same field, 64 x 64 pixels
    eta_ir, lam_ir = cam.detection()
    eta_si, lam_si = si.detection()
    assert lam_ir > 1000 > 900 > lam_si > 830
    assert 0.01 < eta_ir / eta_si < 0.5
    with pytest.raises(InstrumentError, match="pass"):
        cam.set_excitation(1020.0, 50.0) or cam.set_filter("LP1000")
    cam.set_excitation(808.0, 50.0)
    with pytest.raises(InstrumentError, match="no filter"):
        cam.set_filter("red")


def test_fluorescence_noise_saturation_and_bleaching():
    w = world()
    cam = small_fluo(w, exposure_s=0.05)
    cam.set_excitation(808.0, 0.0)
    dark = cam.snap().astype(float)
    spec, bins = cam.spec, 64
    mean_e = spec["dark_e_per_s"] * bins * 0.05
    sigma_adu = np.sqrt(mean_e + spec["read_noise_e"] ** 2 * bins) / cam.e_per_adu
    assert dark.mean() == pytest.approx(cam.bias_adu + mean_e / cam.e_per_adu, abs=1.0)
    assert dark.std() == pytest.approx(sigma_adu, rel=0.1)
    cam.set_excitation(808.0, 2000.0)
    cam.set_exposure(5.0)
    assert cam.snap(timeout=10.0).max() == 2**14 - 1  # full well / ADC range
    cam.set_exposure(0.05)
    before = cam.expected_electrons()[32, 40]
    cam.render_interval_s = 0.0
    cam.grab(4)  # 4 exposures of 50 ms at 2 W/cm^2 on the skin
    after = cam.expected_electrons()[32, 40]
    dose = 4 * 0.05 * 2.0  # J/cm^2 of irradiance; the fluence rate inside is a few times more
    assert after < before * (1 - 1e-4)
    assert after / before > np.exp(-2e-3 * dose * 6)
