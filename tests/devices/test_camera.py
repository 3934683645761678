"""Camera devices: step mode, configuration, limits, and streaming into a run store."""

import numpy as np
import pytest
from bluesky import RunEngine
from bluesky import plan_stubs as bps
from bluesky import preprocessors as bpp

from labctl.core.clock import SimClock, install_sleep_handler
from labctl.core.errors import ConfigError, DataError, InstrumentError, LimitError
from labctl.core.limits import BenchLimits
from labctl.data import RunWriter, read_run
from labctl.devices.camera import CameraDriver
from labctl.devices.fluorescence import FluorescenceCamera, FluorescenceDriver
from labctl.devices.optoacoustic import OptoacousticCamera, OptoacousticDriver
from labctl.plans.imaging import stream_frames
from labctl.simulators.instruments.cameras import SimCamera
from labctl.simulators.instruments.fluo_camera import SimFluorescenceCamera
from labctl.simulators.instruments.oa_camera import SimMSOT
from labctl.simulators.physics.tumor import MouseTumor, TumorParams
from labctl.simulators.physics.world import SimWorld


class _Clocked:
    """The least a SimCamera needs of a world: a clock (no sample)."""

    def __init__(self, clock):
        self.clock = clock


class CountingCamera(SimCamera):
    """Frame k is filled with k: order and completeness can be checked on disk."""

    def __init__(self, clock, shape=(48, 64), period=0.01):
        super().__init__(
            _Clocked(clock), name="counter", detector_size=shape[::-1], frame_period_s=period
        )

    def get_exposure(self):
        return self._period

    def _render(self, index):
        return np.full(self.get_data_dimensions(), index % 65536, np.uint16), {}


@pytest.fixture
def clock():
    return SimClock("lockstep")


@pytest.fixture
def world(clock):
    return SimWorld(clock, MouseTumor(TumorParams(agent_dose=2.0)))


def test_drivers_follow_the_interfaces(world):
    oa = SimMSOT(world, shape=(16, 16))
    fluo = SimFluorescenceCamera(world)
    assert isinstance(oa, OptoacousticDriver) and isinstance(oa, CameraDriver)
    assert isinstance(fluo, FluorescenceDriver)


def test_fluorescence_step_mode_and_configuration(world, clock):
    sim = SimFluorescenceCamera(world)
    cam = FluorescenceCamera(
        sim, clock=clock, name="fluo", limits=BenchLimits(irradiance_max_W_cm2=0.5)
    )
    cam.roi.set([0, 640, 0, 512, 4, 4]).wait()
    cam.exposure.set(0.01).wait()
    t0 = clock.now()
    cam.trigger().wait()
    reading = cam.read()["fluo_image"]
    assert reading["value"].shape == (128, 160) and reading["value"].dtype == np.uint16
    assert reading["timestamp"] == pytest.approx(t0 + 0.012, abs=1e-5)  # exposure + readout
    desc = cam.describe()["fluo_image"]
    assert desc["shape"] == [128, 160] and desc["dtype_numpy"] == "<u2"
    assert desc["units"] == "counts" and desc["source"].startswith("SimFluorescenceCamera")
    config = {k: v["value"] for k, v in cam.read_configuration().items()}
    assert config["fluo_exposure"] == 0.01 and config["fluo_filter"] == "LP1000"
    assert config["fluo_excitation_wavelength"] == 808.0
    assert config["fluo_roi"] == [0, 640, 0, 512, 4, 4]
    cam.excitation_irradiance.set(100.0).wait()
    assert sim.get_excitation() == (808.0, 100.0)
    with pytest.raises(LimitError, match="500"):
        cam.excitation_irradiance.set(600.0)
    assert sim.get_excitation()[1] == 100.0  # nothing was sent
    with pytest.raises(ConfigError):
        cam.roi.set([1, 2, 3])
    with pytest.raises(ConfigError):
        cam.exposure.set(-1.0)


def test_optoacoustic_stack_averages_each_wavelength(world, clock):
    cam = OptoacousticCamera(
        SimMSOT(world, shape=(32, 32), noise_kPa=0.5), clock=clock, averages=4, name="oa"
    )
    cam.wavelengths.set([700, 800]).wait()
    assert cam.sweep_duration_s() == pytest.approx(0.8)
    t0 = clock.now()
    cam.trigger().wait()
    assert clock.now() - t0 == pytest.approx(0.8, abs=1e-5)
    r = cam.read()
    stack, fluence = r["oa_stack"]["value"], r["oa_fluence"]["value"]
    assert stack.shape == (2, 32, 32) and stack.dtype == np.float32
    assert fluence == pytest.approx([15.0, 15.0])
    # 4 averaged pulses: the noise of a difference of two stacks is 0.5 * sqrt(2 / 4)
    cam.trigger().wait()
    again = cam.read()["oa_stack"]["value"]
    assert np.std(again - stack) == pytest.approx(0.5 * np.sqrt(0.5), rel=0.1)
    assert cam.describe()["oa_stack"]["units"] == "kPa"
    x, z = cam.image_coordinates()
    assert x[0] == pytest.approx(-2.325) and z[0] == pytest.approx(0.075)
    assert set(cam.spectra(["Hb", "icg"])) == {"Hb", "icg"}
    with pytest.raises(ConfigError):
        cam.wavelengths.set([800, 800])
    with pytest.raises(ConfigError):
        cam.averages.set(0)


def _streaming_setup(clock, tmp_path, camera=None):
    RE = RunEngine({}, context_managers=[], call_returns_result=True)
    install_sleep_handler(RE, clock)
    writer = RunWriter(tmp_path)
    RE.subscribe(writer)
    camera = camera or CountingCamera(clock)
    dev = FluorescenceCamera.__mro__[1](
        camera, clock=clock, name="cam", stream_buffer=16, path_provider=lambda: writer.current_path
    )
    return RE, writer, dev


def test_streaming_writes_every_frame_to_the_run_store(clock, tmp_path):
    RE, writer, dev = _streaming_setup(clock, tmp_path)
    docs = []
    RE.subscribe(lambda name, doc: docs.append(name))
    counts = RE(stream_frames(dev, frames=300, flush_period=0.2)).plan_result
    assert counts == {"written": 300, "skipped": 0, "on_disk": 300}
    run = read_run(writer.last_path)
    ds = run.stream("cam")
    frames = ds["cam_frame"].values
    assert frames.shape == (300, 48, 64)
    assert (frames[:, 0, 0] == np.arange(300)).all() and (
        frames[:, -1, -1] == frames[:, 0, 0]
    ).all()
    assert (ds.seq_num.values == np.arange(1, 301)).all()
    stamps = run.timestamps("cam")["cam_frame"].values
    assert np.diff(stamps) == pytest.approx(np.full(299, 0.01), abs=1e-5)
    # the RunEngine saw a few documents per flush, not one per frame
    assert docs.count("stream_resource") == 1 and docs.count("stream_datum") < 30
    assert "event" not in docs


def test_streaming_needs_prepare_and_a_store(clock, tmp_path):
    RE, writer, dev = _streaming_setup(clock, tmp_path)
    with pytest.raises(ConfigError, match="prepare"):
        dev.kickoff()
    dev.prepare({"frames": 5})
    with pytest.raises(DataError, match="run store"):
        dev.kickoff()  # no run is open: no store
    with pytest.raises(ConfigError):
        dev.prepare(0)


def test_stop_ends_a_stream(clock, tmp_path):
    RE, writer, dev = _streaming_setup(clock, tmp_path)

    seen = {}

    @bpp.run_decorator(md={"plan_name": "partial"})
    def partial():
        yield from bps.prepare(dev, {"frames": 1000}, wait=True)
        yield from bps.kickoff(dev, wait=True)
        seen["status"] = dev.complete()
        yield from bps.sleep(0.1)
        with pytest.raises(InstrumentError, match="streaming"):
            dev.trigger()
        dev.stop()
        seen["running"] = dev.driver.acquisition_in_progress()

    RE(partial())
    status = seen["status"]
    assert status.done and not status.success  # the stream ended early, and says so
    assert not seen["running"]
    assert 0 < dev.stream_counts()["written"] <= 10  # 0.1 s at 100 frames/s
