"""pylablib cameras (Andor, Hamamatsu DCAM, PCO, Thorlabs, Princeton Instruments NIRvana,
...) as labctl camera drivers.

pylablib (optional extra ``labctl[pylablib]``) already gives every supported camera the
same interface, so the adapter is thin: it passes acquisition, ROI, exposure and frame
reading through, and adds what a labctl device needs and pylablib leaves camera-specific:

- frame infos with ``frame_index`` and ``timestamp`` (epoch s on the bench clock): the
  acquisition start (clock time) plus ``frame_index`` frame periods, since camera
  timestamps count in camera ticks;
- ``get_gain``/``set_gain`` through the camera's own methods, or a named attribute
  (``gain_attribute``, e.g. ``"AdcAnalogGain"`` on PICam cameras);
- the excitation source and emission filter, recorded as settings (``set_excitation``,
  ``set_filter``): they are separate hardware, set by hand or by their own devices;
- pylablib's camera-specific timeout error raised as ``TimeoutError``, other camera
  errors as ``InstrumentError`` naming the camera.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from labctl.core.clock import Clock, WallClock
from labctl.core.errors import ConfigError, InstrumentError

__all__ = ["PylablibCamera", "FrameInfo", "open_pylablib_camera"]


class FrameInfo(NamedTuple):
    """Frame index since the acquisition start, clock time (epoch s), camera's own info."""

    frame_index: int
    timestamp: float
    meta: dict


def open_pylablib_camera(camera: str, **kwargs: Any):
    """Instantiate ``pylablib.devices.<camera>`` (e.g. ``"Andor.AndorSDK3Camera"``)."""
    module_name, _, cls_name = camera.rpartition(".")
    if not module_name:
        raise ConfigError(
            f"camera {camera!r}: give <module>.<Class> under pylablib.devices, "
            "e.g. Andor.AndorSDK3Camera"
        )
    try:
        module = importlib.import_module(f"pylablib.devices.{module_name}")
    except ImportError as exc:
        raise ConfigError(
            f"camera {camera!r} needs pylablib (pip install 'labctl[pylablib]')"
            f" and its vendor SDK: {exc}"
        ) from exc
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise ConfigError(f"pylablib.devices.{module_name} has no camera class {cls_name!r}")
    return cls(**kwargs)


class PylablibCamera:
    """A pylablib camera object behind labctl's camera interface (module doc).

    ``cam``: the pylablib camera (or anything following its interface); ``clock``: the
    bench clock for frame timestamps.
    """

    kind = "fluorescence"
    wire = "none"
    emulator = "sim_fluorescence"

    class Options(BaseModel):
        """Bench-file keys of a pylablib camera entry."""

        model_config = ConfigDict(extra="forbid")
        camera: str | None = Field(
            None,
            description="pylablib camera class under pylablib.devices, e.g. "
            "'Andor.AndorSDK3Camera'",
        )
        camera_args: dict[str, Any] = Field(
            default_factory=dict, description="constructor arguments of the pylablib camera"
        )
        gain_attribute: str | None = Field(
            None,
            description="camera attribute holding the gain, if the camera has no get_gain/set_gain",
        )

    @classmethod
    def from_bench(cls, transport, *, clock, options: dict, entry) -> PylablibCamera:
        """Open the pylablib camera a bench entry names (``transport`` is unused)."""
        if not options["camera"]:
            raise ConfigError(
                "driver pylablib needs 'camera' (a pylablib class such as Andor.AndorSDK3Camera)"
            )
        return cls(
            open_pylablib_camera(options["camera"], **options["camera_args"]),
            clock=clock,
            gain_attribute=options["gain_attribute"],
            excitation_nm=entry.excitation_nm,
            irradiance_mW_cm2=entry.irradiance_mW_cm2,
            filter=entry.filter,
        )

    def __init__(
        self,
        cam,
        *,
        clock: Clock | None = None,
        gain_attribute: str | None = None,
        excitation_nm: float = 0.0,
        irradiance_mW_cm2: float = 0.0,
        filter: str | None = None,
        dtype: Any = None,
    ) -> None:
        self.cam = cam
        self.clock = clock if clock is not None else WallClock()
        self.gain_attribute = gain_attribute
        self._excitation = (float(excitation_nm), float(irradiance_mW_cm2))
        self._filter = filter or ""
        self._t_start = self.clock.now()
        self._lock = threading.RLock()
        self.dtype = np.dtype(dtype or getattr(cam, "_default_image_dtype", "<u2"))
        self._errors = tuple(
            e
            for e in (getattr(cam, "Error", None),)
            if isinstance(e, type) and issubclass(e, BaseException)
        )
        timeout = getattr(cam, "TimeoutError", None)
        self._timeout = (
            timeout if isinstance(timeout, type) and issubclass(timeout, BaseException) else None
        )

    @property
    def name(self) -> str:
        return type(self.cam).__name__

    def _call(self, method: str, *args, **kwargs):
        """Call a camera method; camera errors become InstrumentError/TimeoutError."""
        fn = getattr(self.cam, method, None)
        if fn is None:
            raise InstrumentError(f"{self.name}: the camera has no {method}()")
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if self._timeout is not None and isinstance(exc, self._timeout):
                raise TimeoutError(f"{self.name}.{method}: {exc}") from exc
            if self._errors and isinstance(exc, self._errors):
                raise InstrumentError(f"{self.name}.{method}: {exc}") from exc
            raise

    # -- geometry, timing -----------------------------------------------------------------
    def get_detector_size(self) -> tuple[int, int]:
        return tuple(int(v) for v in self._call("get_detector_size"))

    def get_roi(self) -> tuple[int, ...]:
        roi = tuple(int(v) for v in self._call("get_roi"))
        return roi if len(roi) == 6 else (*roi[:4], 1, 1)

    def set_roi(
        self,
        hstart: int = 0,
        hend: int | None = None,
        vstart: int = 0,
        vend: int | None = None,
        hbin: int = 1,
        vbin: int = 1,
    ):
        if (hbin, vbin) != (1, 1) or len(self._call("get_roi")) == 6:
            return self._call("set_roi", hstart, hend, vstart, vend, hbin, vbin)
        return self._call("set_roi", hstart, hend, vstart, vend)

    def get_data_dimensions(self) -> tuple[int, int]:
        """(rows, cols): pylablib's default "rct" image indexing."""
        return tuple(int(v) for v in self._call("get_data_dimensions"))

    def get_exposure(self) -> float:
        return float(self._call("get_exposure"))

    def set_exposure(self, exposure_s: float) -> float:
        self._call("set_exposure", float(exposure_s))
        return self.get_exposure()

    def get_frame_period(self) -> float:
        if hasattr(self.cam, "get_frame_period"):
            return float(self._call("get_frame_period"))
        return float(self._call("get_frame_timings")[1])

    def get_gain(self):
        if self.gain_attribute:
            value = self._call("get_attribute_value", self.gain_attribute)
        elif hasattr(self.cam, "get_gain"):
            value = self._call("get_gain")
        else:
            return 1.0
        return float(value) if isinstance(value, (int, float, np.number)) else value

    def set_gain(self, gain):
        if self.gain_attribute:
            self._call("set_attribute_value", self.gain_attribute, gain)
        elif hasattr(self.cam, "set_gain"):
            self._call("set_gain", gain)
        else:
            raise InstrumentError(
                f"{self.name}: no gain control; set gain_attribute to the "
                "camera attribute that holds it"
            )
        return self.get_gain()

    # -- excitation and filter (separate hardware, recorded) ----------------------------------
    def get_excitation(self) -> tuple[float, float]:
        return self._excitation

    def set_excitation(self, wavelength_nm: float, irradiance_mW_cm2: float):
        self._excitation = (float(wavelength_nm), float(irradiance_mW_cm2))
        return self._excitation

    def get_filter(self) -> str:
        return self._filter

    def set_filter(self, name: str) -> str:
        self._filter = str(name)
        return self._filter

    # -- acquisition ------------------------------------------------------------------------
    def setup_acquisition(self, mode: str = "sequence", nframes: int = 100):
        return self._call("setup_acquisition", mode=mode, nframes=int(nframes))

    def start_acquisition(self, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            self._period = self.get_frame_period()
            self._t_start = self.clock.now()
            self._call("start_acquisition", *args, **kwargs)

    def stop_acquisition(self) -> None:
        self._call("stop_acquisition")

    def acquisition_in_progress(self) -> bool:
        return bool(self._call("acquisition_in_progress"))

    def wait_for_frame(
        self, since: str = "lastread", nframes: int = 1, timeout: float | None = 20.0
    ) -> bool:
        return bool(self._call("wait_for_frame", since=since, nframes=nframes, timeout=timeout))

    def get_frames_status(self) -> tuple[int, int, int, int]:
        return tuple(int(v) for v in self._call("get_frames_status"))

    def read_multiple_images(
        self, rng=None, peek: bool = False, missing_frame: str = "skip", return_info: bool = False
    ):
        out = self._call(
            "read_multiple_images",
            rng=rng,
            peek=peek,
            missing_frame=missing_frame,
            return_info=True,
        )
        frames, infos = out if out is not None else (None, None)
        if frames is None:
            return (None, None) if return_info else None
        if not return_info:
            return list(frames)
        first = rng[0] if rng is not None else None
        return list(frames), [self._info(i, info, first) for i, info in enumerate(infos)]

    def _info(self, k: int, info, first: int | None) -> FrameInfo | None:
        if info is None:
            return None
        index = getattr(info, "frame_index", None)
        if index is None:
            index = (first or 0) + k
        period = getattr(self, "_period", 0.0)
        meta = info._asdict() if hasattr(info, "_asdict") else {}
        return FrameInfo(int(index), self._t_start + (int(index) + 1) * period, meta)

    def close(self) -> None:
        try:
            if self._call("acquisition_in_progress"):
                self._call("stop_acquisition")
        finally:
            self._call("close")
