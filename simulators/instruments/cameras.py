"""Simulated cameras: pylablib's camera interface over frames rendered from the sample.

Cameras have no public wire protocol; real ones are driven through vendor SDKs, which
pylablib wraps in one uniform interface (``setup_acquisition``, ``start_acquisition``,
``wait_for_frame``, ``read_multiple_images``, ``stop_acquisition``, exposure/ROI/gain).
:class:`SimCamera` implements that interface, so the ophyd camera devices drive a
simulated camera exactly as they drive a real one through the pylablib adapter.

Acquisition runs on the world's clock: ``start_acquisition`` schedules one frame per
frame period (``clock.call_every``), each rendered from the sample at its own time and
pushed into a ring buffer of ``nframes`` frames (``setup_acquisition``).  On a realtime
clock frames appear on the clock's thread and, as on real hardware, a buffer nobody
reads overflows (``get_frames_status().skipped``).  On a lockstep clock frames appear
while someone lets virtual time pass (``wait_for_frame`` does, as does the plan's
``sleep``); there a full buffer makes the producer wait, up to ``backpressure_s`` wall
seconds, for a reader on another thread (a writer thread) to catch up, because virtual
time has no relation to how fast the host drains frames.

Subclasses render: ``_render(index) -> (frame, meta)`` for the current ROI.
"""

from __future__ import annotations

import threading
import zlib
from collections import deque
from typing import Any, NamedTuple

import numpy as np

from labctl.core.errors import InstrumentError

__all__ = ["SimCamera", "TFramesStatus", "SimFrameInfo"]


class TFramesStatus(NamedTuple):
    """pylablib's frame counters."""

    acquired: int
    unread: int
    skipped: int
    buffer_size: int


class SimFrameInfo(NamedTuple):
    """Per-frame information: index since the acquisition start, clock time (epoch s) at
    the end of the frame's exposure (or the laser pulse), and camera-specific values."""

    frame_index: int
    timestamp: float
    meta: dict


class SimCamera:
    """Base of the simulated cameras (see the module doc).

    ``detector_size`` is (width, height) in pixels; ``frame_period_s`` the shortest time
    between frames; ``seed`` seeds the camera's noise (default: from its name).
    """

    Error = InstrumentError
    TimeoutError = TimeoutError
    realtime_ok = True

    def __init__(
        self,
        world,
        *,
        name: str,
        detector_size: tuple[int, int],
        frame_period_s: float,
        buffer_frames: int = 100,
        seed: int | None = None,
        backpressure_s: float = 5.0,
    ) -> None:
        if not frame_period_s > 0:
            raise ValueError(f"{name}: frame period must be > 0 s, not {frame_period_s!r}")
        self.world = world
        self.clock = world.clock
        self.name = name
        self._detector = (int(detector_size[0]), int(detector_size[1]))
        self._roi = (0, self._detector[0], 0, self._detector[1], 1, 1)
        self._period = float(frame_period_s)
        self._period_request = self._period  #: asked for; the period may be longer
        self._gain = 1.0
        self.backpressure_s = float(backpressure_s)
        self.rng = np.random.default_rng(zlib.crc32(name.encode()) if seed is None else seed)
        self._lock = threading.RLock()
        self._space = threading.Condition(self._lock)
        self._opened = True
        self._buffer_size = int(buffer_frames)
        self._mode = "sequence"
        self._snap_frames: int | None = None
        self._setup = False
        self._ring: deque = deque()
        self._task = None
        self._running = False
        self._reset_counters()

    def _reset_counters(self) -> None:
        self._acquired = 0
        self._read_upto = 0
        self._skipped = 0
        self._last_wait = 0
        self._error: Exception | None = None
        self._reader: threading.Thread | None = None
        self._ring.clear()

    # -- device --------------------------------------------------------------------------
    def open(self) -> None:
        self._opened = True

    def close(self) -> None:
        self.stop_acquisition()
        self._opened = False

    def is_opened(self) -> bool:
        return self._opened

    def get_device_info(self) -> dict:
        return {"model": type(self).__name__, "name": self.name, "simulated": True}

    # -- geometry ------------------------------------------------------------------------
    def get_detector_size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self._detector

    def get_roi(self) -> tuple[int, int, int, int, int, int]:
        """(hstart, hend, vstart, vend, hbin, vbin); ends exclusive."""
        return self._roi

    def set_roi(
        self,
        hstart: int = 0,
        hend: int | None = None,
        vstart: int = 0,
        vend: int | None = None,
        hbin: int = 1,
        vbin: int = 1,
    ):
        """Crop and bin (pylablib semantics); clipped to the detector; returns the ROI."""
        w, h = self._detector
        hend = w if hend is None else hend
        vend = h if vend is None else vend
        hbin, vbin = max(int(hbin), 1), max(int(vbin), 1)
        hstart, vstart = int(np.clip(hstart, 0, w - 1)), int(np.clip(vstart, 0, h - 1))
        hend = int(np.clip(hend, hstart + hbin, w))
        vend = int(np.clip(vend, vstart + vbin, h))
        hend -= (hend - hstart) % hbin
        vend -= (vend - vstart) % vbin
        with self._paused():
            self._roi = (hstart, hend, vstart, vend, hbin, vbin)
            self._settings_changed()
        return self._roi

    def get_data_dimensions(self) -> tuple[int, int]:
        """Frame shape (rows, cols) for the current ROI."""
        h0, h1, v0, v1, hb, vb = self._roi
        return ((v1 - v0) // vb, (h1 - h0) // hb)

    # -- timing, gain ------------------------------------------------------------------------
    def get_frame_period(self) -> float:
        return self._period

    def set_frame_period(self, period_s: float) -> float:
        if not period_s > 0:
            raise self.Error(f"{self.name}: frame period must be > 0 s, not {period_s!r}")
        with self._paused():
            self._period_request = float(period_s)
            self._period = max(self._period_request, self._min_period())
        return self._period

    def _min_period(self) -> float:
        return 0.0

    def get_exposure(self) -> float:
        raise NotImplementedError

    def set_exposure(self, exposure_s: float) -> float:
        raise NotImplementedError

    def get_frame_timings(self) -> tuple[float, float]:
        """(exposure, frame period), s."""
        return (self.get_exposure(), self.get_frame_period())

    def get_gain(self) -> float:
        return self._gain

    def set_gain(self, gain: float) -> float:
        raise self.Error(f"{self.name}: this camera has no adjustable gain")

    def _settings_changed(self) -> None:
        """Hook: a setting that affects rendering changed."""

    # -- acquisition ---------------------------------------------------------------------
    def setup_acquisition(self, mode: str = "sequence", nframes: int = 100) -> dict:
        """``mode`` "sequence" (continuous into a ring of ``nframes``) or "snap" (stop after
        ``nframes``)."""
        if mode not in ("sequence", "snap"):
            raise self.Error(f"{self.name}: acquisition mode must be 'sequence' or 'snap'")
        if int(nframes) < 1:
            raise self.Error(f"{self.name}: nframes must be >= 1")
        with self._paused():
            self._mode = mode
            self._buffer_size = int(nframes)
            self._snap_frames = int(nframes) if mode == "snap" else None
            self._setup = True
        return {"mode": mode, "nframes": int(nframes)}

    def clear_acquisition(self) -> None:
        self.stop_acquisition()
        with self._lock:
            self._setup = False
            self._reset_counters()

    def start_acquisition(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs or not self._setup:
            self.setup_acquisition(*args, **kwargs)
        self.stop_acquisition()
        with self._lock:
            self._reset_counters()
            self._running = True
            self._acquisition_started()
            self._task = self.clock.call_every(self._period, self._tick, name=f"{self.name}-frames")

    def _acquisition_started(self) -> None:
        """Hook called when an acquisition starts."""

    def stop_acquisition(self) -> None:
        with self._lock:
            task, self._task = self._task, None
            self._running = False
            self._space.notify_all()
        if task is not None:
            task.cancel()

    def acquisition_in_progress(self) -> bool:
        return self._running

    def _paused(self):
        cam = self

        class _Pause:
            def __enter__(self):
                self.was = cam._running
                if self.was:
                    cam.stop_acquisition()

            def __exit__(self, *exc):
                if self.was and exc[0] is None:
                    cam._restart()

        return _Pause()

    def _restart(self) -> None:
        with self._lock:
            self._running = True
            self._task = self.clock.call_every(self._period, self._tick, name=f"{self.name}-frames")

    def _tick(self) -> None:
        """One frame (clock task): render at the current time and push into the ring."""
        with self._lock:
            if not self._running:
                return
            index = self._acquired
        try:
            frame, meta = self._render(index)
        except Exception as exc:  # a clock task must not die silently: stop and report
            with self._lock:
                self._error = exc
                task, self._task = self._task, None
                self._running = False
                self._space.notify_all()
            if task is not None:
                task.cancel()
            return
        info = SimFrameInfo(index, self.clock.now(), meta)
        with self._lock:
            if not self._running:
                return
            self._make_room()
            self._ring.append((index, frame, info))
            self._acquired += 1
            if self._snap_frames is not None and self._acquired >= self._snap_frames:
                task, self._task = self._task, None
                self._running = False
                if task is not None:
                    task.cancel()

    def _make_room(self) -> None:
        if len(self._ring) < self._buffer_size:
            return
        reader = self._reader
        if (
            getattr(self.clock, "mode", None) == "lockstep"
            and reader is not None
            and reader is not threading.current_thread()
            and reader.is_alive()
        ):
            self._space.wait_for(
                lambda: (
                    not self._running
                    or len(self._ring) < self._buffer_size
                    or self._ring[0][0] < self._read_upto
                ),
                timeout=self.backpressure_s,
            )
        while len(self._ring) >= self._buffer_size:
            index, _, _ = self._ring.popleft()
            if index >= self._read_upto:
                self._skipped += 1
                self._read_upto = index + 1

    def _render(self, index: int) -> tuple[np.ndarray, dict]:
        raise NotImplementedError

    # -- waiting and reading -----------------------------------------------------------
    def get_frames_status(self) -> TFramesStatus:
        with self._lock:
            unread = min(self._acquired - self._read_upto, len(self._ring))
            return TFramesStatus(self._acquired, unread, self._skipped, self._buffer_size)

    def get_new_images_range(self) -> tuple[int, int] | None:
        """(first, last) indices of unread frames still in the buffer (inclusive)."""
        with self._lock:
            if not self._ring or self._read_upto >= self._acquired:
                return None
            first = max(self._read_upto, self._ring[0][0])
            return (first, self._acquired - 1)

    def wait_for_frame(
        self, since: str = "lastread", nframes: int = 1, timeout: float | None = 20.0
    ) -> bool:
        """Wait (clock time) until ``nframes`` frames exist counted from ``since``:
        "lastread", "lastwait", "now" or "start".  Returns False if the acquisition is
        not running (and the frames are not there); raises ``TimeoutError``."""
        with self._lock:
            base = {
                "lastread": self._read_upto,
                "lastwait": self._last_wait,
                "now": self._acquired,
                "start": 0,
            }.get(since)
            if base is None:
                raise self.Error(f"{self.name}: since must be lastread/lastwait/now/start")
            target = base + int(nframes)

        def ready() -> bool:
            return self._acquired >= target or not self._running

        if not ready():
            self.clock.wait_until(
                ready, 1e9 if timeout is None else float(timeout), poll_s=self._period
            )
        with self._lock:
            if self._acquired >= target:
                self._last_wait = self._acquired
                return True
            if self._error is not None:
                raise self.Error(
                    f"{self.name}: frame rendering failed: {self._error}"
                ) from self._error
            if not self._running:
                return False
        raise TimeoutError(f"{self.name}: no frame within {timeout} s")

    def read_multiple_images(
        self,
        rng: tuple[int, int] | None = None,
        peek: bool = False,
        missing_frame: str = "skip",
        return_info: bool = False,
    ):
        """Frames ``rng`` = [first, last) (default: every unread one), oldest first."""
        with self._lock:
            if not self._setup:
                return (None, None) if return_info else None
            if self._reader is None or not self._reader.is_alive():
                self._reader = threading.current_thread()
            first, last = (self._read_upto, self._acquired) if rng is None else rng
            last = min(int(last), self._acquired)
            first = min(int(first), last)
            frames, infos = [], []
            oldest = self._ring[0][0] if self._ring else self._acquired
            lost = max(0, min(oldest, last) - first)
            if missing_frame != "skip" and lost:
                shape = self.get_data_dimensions()
                frames += [None if missing_frame == "none" else np.zeros(shape, self.dtype)] * lost
                infos += [None] * lost
            for index, frame, info in self._ring:
                if first <= index < last:
                    frames.append(frame)
                    infos.append(info)
            if not peek:
                self._read_upto = max(self._read_upto, last)
                self._space.notify_all()
        return (frames, infos) if return_info else frames

    def read_oldest_image(self, peek: bool = False, return_info: bool = False):
        rng = self.get_new_images_range()
        if rng is None:
            return (None, None) if return_info else None
        out = self.read_multiple_images((rng[0], rng[0] + 1), peek=peek, return_info=True)
        return (out[0][0], out[1][0]) if return_info else out[0][0]

    def read_newest_image(self, peek: bool = False, return_info: bool = False):
        rng = self.get_new_images_range()
        if rng is None:
            return (None, None) if return_info else None
        out = self.read_multiple_images((rng[1], rng[1] + 1), peek=peek, return_info=True)
        if not peek:
            with self._lock:
                self._read_upto = max(self._read_upto, rng[1] + 1)
        return (out[0][0], out[1][0]) if return_info else out[0][0]

    def grab(self, nframes: int = 1, frame_timeout: float = 5.0, return_info: bool = False):
        """Acquire exactly ``nframes`` frames and stop (pylablib's ``grab``)."""
        self.start_acquisition(mode="snap", nframes=nframes)
        try:
            frames, infos = [], []
            while len(frames) < nframes:
                self.wait_for_frame(timeout=frame_timeout)
                f, i = self.read_multiple_images(return_info=True)
                frames += f
                infos += i
        finally:
            self.stop_acquisition()
        return (frames[:nframes], infos[:nframes]) if return_info else frames[:nframes]

    def snap(self, timeout: float = 5.0, return_info: bool = False):
        out = self.grab(1, frame_timeout=timeout, return_info=return_info)
        return (out[0][0], out[1][0]) if return_info else out[0]

    # -- helpers for subclasses -------------------------------------------------------------
    dtype = np.dtype("uint16")

    def _sync(self) -> None:
        sync = getattr(self.world, "sync", None)
        if sync is not None:
            sync()
