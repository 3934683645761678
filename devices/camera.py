"""Cameras: the driver interface (modelled on pylablib's) and the ophyd device base.

Real scientific cameras are driven through vendor SDKs; pylablib wraps them in one
uniform interface, and labctl's :class:`CameraDriver` is that interface (the subset a
device needs, plus gain): the pylablib adapter
(:mod:`labctl.devices.drivers.pylablib_camera`) and the simulated cameras
(:mod:`labctl.simulators.instruments.cameras`) both implement it.

:class:`CameraDevice` is the ophyd base of :class:`~.optoacoustic.OptoacousticCamera` and
:class:`~.fluorescence.FluorescenceCamera`:

- **step mode**: ``trigger()`` acquires one frame (or one multi-wavelength stack) and
  ``read()`` puts it in the event;
- **streaming mode** (bluesky flyer + ``WritesStreamAssets``): ``prepare({"frames": n})``,
  ``kickoff()`` starts the camera and a writer thread that moves frames from the camera's
  buffer straight into the run's zarr store (:class:`labctl.data.FrameWriter`, opened on
  the store given by ``path_provider``, the bench's ``RunWriter.current_path``);
  ``collect_asset_docs``/``get_index`` announce what is on disk with StreamResource /
  StreamDatum documents and ``complete()`` finishes when all ``n`` frames are written.
  The RunEngine only sees a few documents per flush, so it never limits the frame rate.

On a lockstep simulated clock the writer thread never waits on the camera (that would
move virtual time from a second thread): it polls the camera's buffer while the plan's
``sleep`` lets virtual time, and frames, pass.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from ophyd import Component as Cpt
from ophyd import Signal
from ophyd.status import Status

from labctl.core.clock import Clock
from labctl.core.errors import ConfigError, DataError, InstrumentError
from labctl.core.limits import BenchLimits
from labctl.devices.signals import DriverSignal, DriverSignalRO, LabDevice, run_in_status

__all__ = ["CameraDriver", "CameraDevice", "ImageSignal", "frame_time"]


@runtime_checkable
class CameraDriver(Protocol):
    """What a camera device needs (pylablib's camera interface; times in s, pixels).

    ``read_multiple_images(return_info=True)`` returns ``(frames, infos)``; each info has
    ``frame_index`` and ``timestamp`` (epoch s on the bench clock) and may have ``meta``
    (a dict, e.g. ``wavelength_nm``).  ``wait_for_frame`` raises ``TimeoutError``.
    """

    def get_detector_size(self) -> tuple[int, int]:
        """(width, height)."""

    def get_roi(self) -> tuple[int, int, int, int, int, int]:
        """(hstart, hend, vstart, vend, hbin, vbin)."""

    def set_roi(
        self,
        hstart: int = 0,
        hend: int | None = None,
        vstart: int = 0,
        vend: int | None = None,
        hbin: int = 1,
        vbin: int = 1,
    ): ...

    def get_data_dimensions(self) -> tuple[int, int]:
        """(rows, cols) of a frame."""

    def get_exposure(self) -> float: ...

    def set_exposure(self, exposure_s: float) -> float: ...

    def get_frame_period(self) -> float: ...

    def setup_acquisition(self, mode: str = "sequence", nframes: int = 100): ...

    def start_acquisition(self, *args: Any, **kwargs: Any) -> None: ...

    def stop_acquisition(self) -> None: ...

    def acquisition_in_progress(self) -> bool: ...

    def wait_for_frame(
        self, since: str = "lastread", nframes: int = 1, timeout: float | None = 20.0
    ) -> bool: ...

    def read_multiple_images(
        self, rng=None, peek: bool = False, missing_frame: str = "skip", return_info: bool = False
    ): ...

    def get_frames_status(self) -> tuple[int, int, int, int]:
        """(acquired, unread, skipped, buffer_size)."""

    def close(self) -> None: ...


def frame_time(info) -> float:
    """Timestamp of a frame info (NaN if the camera gives none)."""
    return float(getattr(info, "timestamp", float("nan")))


class ImageSignal(Signal):
    """Holds the last acquired image/array; ``describe()`` gives units and numpy dtype."""

    def __init__(self, *, units: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._units = units

    @property
    def source_name(self) -> str:
        driver = getattr(self.parent, "driver", None)
        return f"{type(driver).__name__}:{self.name}" if driver is not None else self.name

    def describe(self):
        desc = super().describe()
        desc[self.name]["source"] = self.source_name
        if self._units is not None:
            desc[self.name]["units"] = self._units
        value = self._readback
        if isinstance(value, np.ndarray):
            desc[self.name]["dtype_numpy"] = value.dtype.str
        return desc


class _StreamJob:
    """One streaming acquisition: its frame writer, counters, thread and status."""

    def __init__(self, n_frames: int, writer, done: Status) -> None:
        self.n = n_frames
        self.writer = writer
        self.done = done
        self.written = 0
        self.skipped = 0
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None


class CameraDevice(LabDevice):
    """Base of the camera devices (module doc).  ``path_provider()`` gives the open run's
    store for streaming; ``stream_buffer`` is the camera buffer (frames) while streaming;
    ``frame_timeout_s`` bounds a step acquisition beyond its nominal duration."""

    roi = Cpt(
        DriverSignal,
        getter="self._get_roi",
        setter="self._set_roi",
        validator="_check_roi",
        value=[],
        kind="config",
    )
    frame_period = Cpt(DriverSignalRO, getter="get_frame_period", units="s", kind="config")

    frame_dtype = np.dtype("uint16")
    frame_units = "counts"

    def __init__(
        self,
        driver: CameraDriver,
        *,
        clock: Clock | None = None,
        limits: BenchLimits | None = None,
        name: str,
        path_provider: Callable[[], Path | str | None] | None = None,
        stream_buffer: int = 200,
        frame_timeout_s: float = 10.0,
        **kwargs,
    ) -> None:
        self.path_provider = path_provider
        self.stream_buffer = int(stream_buffer)
        self.frame_timeout_s = float(frame_timeout_s)
        self._stream_frames = 0
        self._job: _StreamJob | None = None
        self._last_job: _StreamJob | None = None
        self._lock = threading.Lock()
        super().__init__(driver, clock=clock, limits=limits, name=name, **kwargs)
        self.roi._update(self._get_roi())

    @property
    def lockstep(self) -> bool:
        return getattr(self.clock, "mode", None) == "lockstep"

    # -- configuration ------------------------------------------------------------------
    def _get_roi(self) -> list[int]:
        return [int(v) for v in self.driver.get_roi()]

    def _check_roi(self, roi: Sequence[int]) -> None:
        if len(roi) not in (4, 6) or any(int(v) != v or v < 0 for v in roi):
            raise ConfigError(
                f"{self.name}.roi must be [hstart, hend, vstart, vend(, hbin, "
                f"vbin)] of non-negative integers, not {roi!r}"
            )
        if self._job is not None:
            raise InstrumentError(f"{self.name}: ROI change refused while streaming")

    def _set_roi(self, roi: Sequence[int]) -> None:
        self.driver.set_roi(*[int(v) for v in roi])

    def frame_shape(self) -> tuple[int, int]:
        """(rows, cols) of one frame with the current ROI."""
        return tuple(int(v) for v in self.driver.get_data_dimensions())

    # -- step mode ---------------------------------------------------------------------
    def trigger(self) -> Status:
        if self._job is not None:
            raise InstrumentError(f"{self.name}: cannot trigger while streaming")
        return run_in_status(self._acquire_step, self.clock, obj=self)

    def _acquire_step(self) -> None:
        raise NotImplementedError

    def _grab(self, n: int) -> tuple[list[np.ndarray], list]:
        """Acquire exactly ``n`` frames (snap mode) and stop; returns (frames, infos)."""
        drv = self.driver
        drv.start_acquisition(mode="snap", nframes=n)
        try:
            timeout = n * drv.get_frame_period() + self.frame_timeout_s
            if not drv.wait_for_frame(since="start", nframes=n, timeout=timeout):
                raise InstrumentError(f"{self.name}: acquisition stopped before {n} frames")
            frames, infos = drv.read_multiple_images(return_info=True)
        finally:
            drv.stop_acquisition()
        if frames is None or len(frames) < n:
            got = 0 if frames is None else len(frames)
            raise InstrumentError(f"{self.name}: {got} of {n} frames arrived")
        return list(frames[:n]), list(infos[:n])

    # -- streaming (flyer, WritesStreamAssets) ------------------------------------------------
    @property
    def stream_key(self) -> str:
        return f"{self.name}_frame"

    def prepare(self, value) -> Status:
        """Number of frames of the next stream: ``{"frames": n}`` or ``n``."""
        n = int(value["frames"] if isinstance(value, dict) else value)
        if n < 1:
            raise ConfigError(f"{self.name}: a stream needs at least one frame, not {n}")
        self._stream_frames = n
        status = Status(obj=self)
        status.set_finished()
        return status

    def describe_collect(self) -> dict:
        rows, cols = self.frame_shape()
        return {
            self.stream_key: {
                "source": f"{type(self.driver).__name__}:{self.name}",
                "shape": [rows, cols],
                "dtype": "array",
                "dtype_numpy": self.frame_dtype.str,
                "external": "STREAM:",
                "units": self.frame_units,
            }
        }

    def kickoff(self) -> Status:
        """Open the frame writer on the run's store, start the camera and the writer."""
        from labctl.data import FrameWriter

        if self._job is not None:
            raise InstrumentError(f"{self.name}: already streaming")
        if not self._stream_frames:
            raise ConfigError(f"{self.name}: prepare({{'frames': n}}) before kickoff")
        store = self.path_provider() if self.path_provider is not None else None
        if store is None:
            raise DataError(
                f"{self.name}: streaming needs a run store (a bench with a data "
                "writer, inside an open run)"
            )
        writer = FrameWriter(store, self.stream_key, self.frame_shape(), self.frame_dtype)
        job = _StreamJob(self._stream_frames, writer, Status(obj=self))
        self.driver.start_acquisition(mode="sequence", nframes=max(self.stream_buffer, 2))
        self._job = job
        job.thread = threading.Thread(
            target=self._write_frames, args=(job,), name=f"labctl-{self.name}-writer", daemon=True
        )
        job.thread.start()
        status = Status(obj=self)
        status.set_finished()
        return status

    def complete(self) -> Status:
        """Finishes when every frame of the stream is on disk (or fails with the writer)."""
        job = self._job or self._last_job  # a fast stream may already be finished
        if job is None:
            raise InstrumentError(f"{self.name}: complete() without kickoff()")
        return job.done

    def collect_asset_docs(self, index: int | None = None):
        job = self._job or self._last_job
        if job is not None:
            yield from job.writer.collect_asset_docs(index)

    def get_index(self) -> int:
        job = self._job or self._last_job
        return 0 if job is None else job.writer.length

    def frames_produced(self) -> int:
        """Frames the camera has acquired in the current stream."""
        return int(self.driver.get_frames_status()[0]) if self._job is not None else 0

    def stream_remaining_s(self) -> float:
        """Camera time still needed to acquire the rest of the stream, s (0 when done)."""
        job = self._job
        if job is None:
            return 0.0
        left = job.n - self.frames_produced()
        return max(left, 0) * self.driver.get_frame_period()

    def stream_counts(self) -> dict[str, int]:
        job = self._job or self._last_job
        return (
            {}
            if job is None
            else {"written": job.written, "skipped": job.skipped, "on_disk": job.writer.length}
        )

    def _write_frames(self, job: _StreamJob) -> None:
        drv = self.driver
        try:
            while job.written < job.n and not job.stop.is_set():
                if not self.lockstep:
                    try:
                        drv.wait_for_frame(since="lastread", nframes=1, timeout=0.2)
                    except TimeoutError:
                        continue
                if not self._take(job) and self.lockstep:
                    job.stop.wait(0.002)  # wall-time poll: virtual time is the plan's
            drv.stop_acquisition()
            self._take(job)  # stopped early: keep what the camera had already acquired
            job.writer.flush()
            if job.written < job.n:
                raise InstrumentError(
                    f"{self.name}: stream stopped after {job.written} of {job.n} frames"
                )
        except Exception as exc:
            try:
                drv.stop_acquisition()
            finally:
                job.done.set_exception(exc)
        else:
            job.done.set_finished()
        finally:
            with self._lock:
                if self._job is job:
                    self._last_job, self._job = job, None

    def _take(self, job: _StreamJob) -> int:
        """Move the frames waiting in the camera's buffer to the store; how many."""
        frames, infos = self.driver.read_multiple_images(return_info=True)
        if not frames or job.written >= job.n:
            return 0
        take = min(len(frames), job.n - job.written)
        block = np.stack(frames[:take]).astype(self.frame_dtype, copy=False)
        job.writer.append(block, [frame_time(i) for i in infos[:take]])
        job.written += take
        job.skipped = int(self.driver.get_frames_status()[2])
        return take

    def _stop_stream(self) -> None:
        job = self._job
        if job is not None:
            job.stop.set()
            if job.thread is not None and job.thread is not threading.current_thread():
                job.thread.join(timeout=10.0)
        with contextlib.suppress(InstrumentError):
            self.driver.stop_acquisition()

    # -- bluesky hooks -------------------------------------------------------------------
    def stop(self, *, success: bool = False) -> None:
        self._stop_stream()
        super().stop(success=success)

    def unstage(self):
        self._stop_stream()
        self._last_job = None
        return super().unstage()
