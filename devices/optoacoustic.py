"""Optoacoustic (MSOT-like) camera: an ophyd device for multispectral cross-sections.

The scanner fires one laser pulse per frame at its pulse rate, stepping through the
configured wavelengths pulse by pulse; each frame is a reconstructed initial-pressure
image (kPa).  ``trigger()`` acquires ``len(wavelengths) * averages`` pulses and ``read()``
gives ``<name>_stack`` (wavelengths, rows, cols), the per-wavelength frame mean, stamped
with the mean pulse time, and ``<name>_fluence``, the mean surface fluence per pulse at
each wavelength (mJ/cm^2, NaN when the scanner does not report it).  Streaming
(:class:`~.camera.CameraDevice`) writes every pulse's frame into the run store.

Configuration signals: ``wavelengths`` (nm), ``averages``, ``pulse_rate`` (Hz),
``pixel_size`` (mm), ``origin`` ([x, z] of pixel (0, 0), mm: x across the section, z
depth below the skin), ``roi``, ``frame_period`` (s).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from ophyd import Component as Cpt

from labctl.core.clock import Clock
from labctl.core.errors import ConfigError, InstrumentError
from labctl.core.limits import BenchLimits
from labctl.devices.camera import CameraDevice, CameraDriver, ImageSignal, frame_time
from labctl.devices.signals import DriverSignal, DriverSignalRO

__all__ = ["OptoacousticCamera", "OptoacousticDriver"]


@runtime_checkable
class OptoacousticDriver(CameraDriver, Protocol):
    """A camera driver plus the scanner's excitation sweep and image geometry."""

    def get_wavelengths(self) -> list[float]: ...

    def set_wavelengths(self, wavelengths) -> list[float]: ...

    def get_pulse_rate(self) -> float:
        """Laser pulses (= frames) per second."""

    def geometry(self) -> dict:
        """``pixel_mm`` (x), ``pixel_z_mm``, ``x0_mm``, ``z0_mm`` of pixel (0, 0)."""


class OptoacousticCamera(CameraDevice):
    """Multispectral optoacoustic camera (module doc).

    ``spectra(names)`` returns the scanner's spectral library at the configured
    wavelengths (decadic extinction per unit concentration), when the driver has one.
    """

    wavelengths = Cpt(
        DriverSignal,
        getter="get_wavelengths",
        setter="set_wavelengths",
        validator="_check_wavelengths",
        units="nm",
        value=[],
        kind="config",
    )
    averages = Cpt(
        DriverSignal,
        getter="self._get_averages",
        setter="self._set_averages",
        validator="_check_averages",
        value=1,
        kind="config",
    )
    pulse_rate = Cpt(DriverSignalRO, getter="get_pulse_rate", units="Hz", kind="config")
    pixel_size = Cpt(DriverSignalRO, getter="self._pixel_size", units="mm", kind="config")
    origin = Cpt(DriverSignalRO, getter="self._origin", units="mm", value=[], kind="config")
    stack = Cpt(ImageSignal, units="kPa", value=np.zeros((0, 0, 0), np.float32), kind="normal")
    fluence = Cpt(ImageSignal, units="mJ/cm^2", value=np.zeros(0), kind="normal")

    frame_dtype = np.dtype("float32")
    frame_units = "kPa"

    def __init__(
        self,
        driver: OptoacousticDriver,
        *,
        averages: int = 1,
        clock: Clock | None = None,
        limits: BenchLimits | None = None,
        name: str,
        **kwargs,
    ) -> None:
        self._averages = 1
        super().__init__(driver, clock=clock, limits=limits, name=name, **kwargs)
        self._check_averages(averages)
        self._averages = int(averages)
        self.averages._update(self._averages)
        self.wavelengths._update(list(driver.get_wavelengths()))

    # -- configuration ------------------------------------------------------------------
    def _check_wavelengths(self, wavelengths) -> None:
        wl = np.atleast_1d(np.asarray(wavelengths, dtype=float))
        if wl.size == 0 or not np.all(np.isfinite(wl)) or len(set(wl.tolist())) != wl.size:
            raise ConfigError(
                f"{self.name}.wavelengths must be distinct finite nm values, not {wavelengths!r}"
            )

    def _check_averages(self, n) -> None:
        if int(n) != n or not 1 <= n <= 1000:
            raise ConfigError(f"{self.name}.averages must be an integer 1-1000, not {n!r}")

    def _get_averages(self) -> int:
        return self._averages

    def _set_averages(self, n) -> None:
        self._averages = int(n)

    def _pixel_size(self) -> float:
        return float(self.driver.geometry()["pixel_mm"])

    def _origin(self) -> list[float]:
        g = self.driver.geometry()
        return [float(g["x0_mm"]), float(g["z0_mm"])]

    def image_coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """(x centres of the columns, z centres of the rows) of the current ROI, mm."""
        g = self.driver.geometry()
        rows, cols = self.frame_shape()
        dz = float(g.get("pixel_z_mm", g["pixel_mm"]))
        return (g["x0_mm"] + np.arange(cols) * g["pixel_mm"], g["z0_mm"] + np.arange(rows) * dz)

    def spectra(self, names, wavelengths=None) -> dict[str, np.ndarray]:
        """Extinction spectra of ``names`` from the scanner's library (1/cm per unit)."""
        library = getattr(self.driver, "spectra", None)
        if library is None:
            raise InstrumentError(
                f"{self.name}: the scanner has no spectral library; give the spectra explicitly"
            )
        wl = self.driver.get_wavelengths() if wavelengths is None else wavelengths
        return library(np.asarray(wl, dtype=float), tuple(names))

    # -- acquisition ------------------------------------------------------------------------
    def sweep_duration_s(self) -> float:
        """Time one stack takes: pulses / pulse rate, s."""
        return len(self.driver.get_wavelengths()) * self._averages / self.driver.get_pulse_rate()

    def _acquire_step(self) -> None:
        wl = [float(w) for w in self.driver.get_wavelengths()]
        n = len(wl) * self._averages
        frames, infos = self._grab(n)
        sums = {w: None for w in wl}
        counts = dict.fromkeys(wl, 0)
        fluence = {w: [] for w in wl}
        for k, (frame, info) in enumerate(zip(frames, infos, strict=True)):
            meta = getattr(info, "meta", None) or {}
            w = float(meta.get("wavelength_nm", wl[k % len(wl)]))
            if w not in sums:
                raise InstrumentError(f"{self.name}: frame at {w} nm is not in the sweep {wl}")
            f = np.asarray(frame, dtype=np.float64)
            sums[w] = f if sums[w] is None else sums[w] + f
            counts[w] += 1
            fluence[w].append(float(meta.get("fluence_mJ_cm2", np.nan)))
        if min(counts.values()) == 0:
            raise InstrumentError(f"{self.name}: a wavelength of the sweep got no pulse")
        stack = np.stack([sums[w] / counts[w] for w in wl]).astype(np.float32)
        times = [frame_time(i) for i in infos]
        t = float(np.nanmean(times)) if np.isfinite(times).any() else self.clock.now()
        self.stack.put(stack, timestamp=t)
        self.fluence.put(np.array([np.mean(fluence[w]) for w in wl]), timestamp=t)
        self.wavelengths._update(wl)
