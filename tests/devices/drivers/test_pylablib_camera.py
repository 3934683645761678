"""The pylablib adapter, against a fake object that follows pylablib's camera interface
(pylablib itself is an optional extra and is not needed here)."""

import collections
import sys

import numpy as np
import pytest

from labctl.bench import Bench
from labctl.config.bench_file import load_bench_config
from labctl.core.clock import SimClock, WallClock
from labctl.core.errors import ConfigError, InstrumentError
from labctl.data import RunWriter, read_run
from labctl.devices.drivers import pylablib_camera
from labctl.devices.drivers.pylablib_camera import PylablibCamera, open_pylablib_camera
from labctl.devices.fluorescence import FluorescenceCamera
from labctl.plans.imaging import stream_frames

TFramesStatus = collections.namedtuple("TFramesStatus", "acquired unread skipped buffer_size")
TFrameInfo = collections.namedtuple("TFrameInfo", "frame_index framestamp timestamp_us")


class FakeCamError(RuntimeError):
    pass


class FakeCamTimeout(FakeCamError):
    pass


class FakePylablibCamera:
    """pylablib ``IROICamera``/``IExposureCamera`` behaviour: 4-value ROI, frame timings,
    a ring buffer, frames appearing when waited for, camera-specific errors."""

    Error = FakeCamError
    TimeoutError = FakeCamTimeout
    _default_image_dtype = "<u2"

    def __init__(self, size=(32, 24)):
        self.size = size
        self.roi = (0, size[0], 0, size[1])
        self.exposure = 0.01
        self.attributes = {"AdcAnalogGain": "Low"}
        self.nframes, self.running, self.acquired, self.read_upto = 100, False, 0, 0
        self.closed = False
        self.calls = []

    def get_detector_size(self):
        return self.size

    def get_roi(self):
        return self.roi

    def set_roi(self, hstart=0, hend=None, vstart=0, vend=None):
        self.roi = (hstart, hend or self.size[0], vstart, vend or self.size[1])

    def get_data_dimensions(self):
        return (self.roi[3] - self.roi[2], self.roi[1] - self.roi[0])

    def get_exposure(self):
        return self.exposure

    def set_exposure(self, exposure):
        if exposure <= 0:
            raise FakeCamError("exposure out of range")
        self.exposure = exposure

    def get_frame_timings(self):
        return (self.exposure, self.exposure + 0.001)

    def get_attribute_value(self, name):
        return self.attributes[name]

    def set_attribute_value(self, name, value):
        self.attributes[name] = value

    def setup_acquisition(self, mode="sequence", nframes=100):
        self.calls.append(("setup", mode, nframes))
        self.nframes = nframes

    def start_acquisition(self, *args, **kwargs):
        if args or kwargs:
            self.setup_acquisition(*args, **kwargs)
        self.running, self.acquired, self.read_upto = True, 0, 0

    def stop_acquisition(self):
        self.running = False

    def acquisition_in_progress(self):
        return self.running

    def wait_for_frame(self, since="lastread", nframes=1, timeout=20.0, error_on_stopped=False):
        if not self.running:
            return False
        if timeout is not None and timeout < 0.001:
            raise FakeCamTimeout("no frame")
        base = {"lastread": self.read_upto, "start": 0, "now": self.acquired}.get(since, 0)
        self.acquired = max(self.acquired, base + nframes)
        return True

    def read_multiple_images(self, rng=None, peek=False, missing_frame="skip", return_info=False):
        first, last = (self.read_upto, self.acquired) if rng is None else rng
        first = max(first, last - self.nframes)
        frames = [np.full(self.get_data_dimensions(), i, np.uint16) for i in range(first, last)]
        infos = [TFrameInfo(i, i, 1000 * i) for i in range(first, last)]
        if not peek:
            self.read_upto = max(self.read_upto, last)
        return (frames, infos) if return_info else frames

    def get_frames_status(self):
        return TFramesStatus(self.acquired, self.acquired - self.read_upto, 0, self.nframes)

    def close(self):
        self.closed = True


def test_pass_through_and_frame_infos():
    clock = SimClock("lockstep")
    fake = FakePylablibCamera()
    cam = PylablibCamera(
        fake,
        clock=clock,
        gain_attribute="AdcAnalogGain",
        excitation_nm=785.0,
        irradiance_mW_cm2=20.0,
        filter="LP1100",
    )
    assert cam.get_roi() == (0, 32, 0, 24, 1, 1)  # a 4-value ROI camera, binning 1
    cam.set_roi(4, 20, 2, 18)
    assert fake.roi == (4, 20, 2, 18) and cam.get_data_dimensions() == (16, 16)
    assert cam.set_exposure(0.05) == 0.05 and cam.get_frame_period() == pytest.approx(0.051)
    assert cam.get_gain() == "Low" and cam.set_gain("High") == "High"
    assert cam.get_excitation() == (785.0, 20.0) and cam.get_filter() == "LP1100"
    assert cam.dtype == np.dtype("<u2")
    t0 = clock.now()
    cam.start_acquisition(mode="snap", nframes=3)
    assert fake.calls[-1] == ("setup", "snap", 3)
    assert cam.wait_for_frame(since="start", nframes=3)
    frames, infos = cam.read_multiple_images(return_info=True)
    assert [int(f[0, 0]) for f in frames] == [0, 1, 2]
    assert [i.frame_index for i in infos] == [0, 1, 2]
    assert [i.timestamp - t0 for i in infos] == pytest.approx([0.051, 0.102, 0.153], abs=1e-6)
    assert infos[2].meta["timestamp_us"] == 2000
    assert tuple(cam.get_frames_status()) == (3, 0, 0, 3)
    cam.stop_acquisition()
    cam.close()
    assert fake.closed


def test_camera_errors_become_labctl_errors():
    fake = FakePylablibCamera()
    cam = PylablibCamera(fake)
    with pytest.raises(InstrumentError, match="set_exposure: exposure out of range"):
        cam.set_exposure(-1.0)
    cam.start_acquisition()
    with pytest.raises(TimeoutError, match="no frame"):
        cam.wait_for_frame(timeout=0.0)
    with pytest.raises(InstrumentError, match="no gain control"):
        cam.set_gain(2.0)
    assert cam.get_gain() == 1.0
    del FakePylablibCamera.set_roi  # a camera without ROI support
    try:
        with pytest.raises(InstrumentError, match="has no set_roi"):
            cam.set_roi(0, 8, 0, 8)
    finally:
        FakePylablibCamera.set_roi = _set_roi


_set_roi = FakePylablibCamera.set_roi


def test_device_over_the_adapter_steps_and_streams(tmp_path):
    from bluesky import RunEngine

    clock = WallClock()
    fake = FakePylablibCamera()
    device = FluorescenceCamera(
        PylablibCamera(fake, clock=clock, filter="LP1000"),
        clock=clock,
        name="nirvana",
        path_provider=lambda: writer.current_path,
    )
    device.trigger().wait(5)
    assert device.read()["nirvana_image"]["value"].shape == (24, 32)
    with pytest.raises(InstrumentError, match="no gain control"):
        device.gain.set("Medium").wait(5)  # no gain attribute configured
    assert fake.attributes == {"AdcAnalogGain": "Low"}
    RE = RunEngine({}, context_managers=[], call_returns_result=True)
    writer = RunWriter(tmp_path)
    RE.subscribe(writer)
    device.driver.gain_attribute = "AdcAnalogGain"
    device.gain.set("Medium").wait(5)
    assert fake.attributes["AdcAnalogGain"] == "Medium"
    counts = RE(stream_frames(device, frames=40, flush_period=0.01)).plan_result
    assert counts["written"] == 40
    frames = read_run(writer.last_path).stream("nirvana")["nirvana_frame"].values
    assert (frames[:, 0, 0] == np.arange(40)).all()


def test_opening_pylablib_cameras(monkeypatch):
    monkeypatch.setitem(sys.modules, "pylablib", None)  # not installed
    with pytest.raises(ConfigError, match=r"pip install 'labctl\[pylablib\]'"):
        open_pylablib_camera("Andor.AndorSDK3Camera")
    with pytest.raises(ConfigError, match="<module>.<Class>"):
        open_pylablib_camera("AndorSDK3Camera")


BENCH = """
name: nir-ii
mode: real
devices:
  nirvana:
    kind: fluorescence
    driver: pylablib
    camera: PrincetonInstruments.PicamCamera
    camera_args: {serial_number: "1234"}
    gain_attribute: AdcAnalogGain
    exposure_s: 0.05
    gain: High
    excitation_nm: 785
    filter: LP1100
"""


def test_real_bench_builds_a_pylablib_camera(monkeypatch, tmp_path):
    opened = {}

    def fake_open(camera, **kwargs):
        opened.update(camera=camera, **kwargs)
        return FakePylablibCamera()

    monkeypatch.setattr(pylablib_camera, "open_pylablib_camera", fake_open)
    with pytest.raises(ConfigError, match="gain"):
        load_bench_config(text=BENCH)  # gain must be a number in the bench file
    config = load_bench_config(text=BENCH.replace("gain: High", "gain: 2.0"))
    bench = Bench(config, data_dir=tmp_path)
    try:
        assert opened == {"camera": "PrincetonInstruments.PicamCamera", "serial_number": "1234"}
        cam = bench.nirvana
        assert isinstance(cam, FluorescenceCamera)
        assert cam.exposure.get() == 0.05 and cam.filter.get() == "LP1100"
        assert bench.drivers["nirvana"].cam.attributes["AdcAnalogGain"] == 2.0
        assert bench.devices_of(lambda kind: not kind.energizes and not kind.thermometer) == [
            "nirvana"
        ]
    finally:
        bench.close()
    assert bench.drivers["nirvana"].cam.closed
