"""NIR fluorescence camera (NIR-I sCMOS or NIR-II InGaAs): an ophyd device.

``trigger()`` acquires one frame (excitation on for its exposure) and ``read()`` gives
``<name>_image`` (rows, cols; uint16 counts) stamped with the frame time.  Streaming
(:class:`~.camera.CameraDevice`) writes every frame into the run store.

Configuration signals: ``exposure`` (s), ``gain`` (relative to the base conversion),
``excitation_wavelength`` (nm), ``excitation_irradiance`` (mW/cm^2 on the skin; checked
against the bench's irradiance cap), ``filter`` (emission filter name), ``roi``,
``frame_period`` (s).  ``gain`` is a factor, or a camera's named gain mode.
``stop()``/``unstage()`` stop the acquisition, which gates the excitation source.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from ophyd import Component as Cpt

from labctl.core.errors import ConfigError, LimitError
from labctl.devices.camera import CameraDevice, CameraDriver, ImageSignal, frame_time
from labctl.devices.signals import DriverSignal

__all__ = ["FluorescenceCamera", "FluorescenceDriver"]


@runtime_checkable
class FluorescenceDriver(CameraDriver, Protocol):
    """A camera driver plus gain, excitation source and emission filter."""

    def get_gain(self) -> float: ...

    def set_gain(self, gain: float) -> float: ...

    def get_excitation(self) -> tuple[float, float]:
        """(wavelength nm, irradiance mW/cm^2)."""

    def set_excitation(self, wavelength_nm: float, irradiance_mW_cm2: float): ...

    def get_filter(self) -> str: ...

    def set_filter(self, name: str) -> str: ...


class FluorescenceCamera(CameraDevice):
    """Fluorescence camera with excitation and emission filter (module doc)."""

    exposure = Cpt(
        DriverSignal,
        getter="get_exposure",
        setter="set_exposure",
        validator="_check_exposure",
        units="s",
        kind="config",
    )
    gain = Cpt(
        DriverSignal,
        getter="get_gain",
        setter="set_gain",
        validator="_check_gain",
        value=1.0,
        kind="config",
    )
    excitation_wavelength = Cpt(
        DriverSignal,
        getter="self._exc_wavelength",
        setter="self._set_exc_wavelength",
        units="nm",
        kind="config",
    )
    excitation_irradiance = Cpt(
        DriverSignal,
        getter="self._exc_irradiance",
        setter="self._set_exc_irradiance",
        validator="_check_irradiance",
        units="mW/cm^2",
        kind="config",
    )
    filter = Cpt(DriverSignal, getter="get_filter", setter="set_filter", value="", kind="config")
    image = Cpt(ImageSignal, units="counts", value=np.zeros((0, 0), np.uint16), kind="normal")

    frame_dtype = np.dtype("uint16")
    frame_units = "counts"

    # -- configuration ------------------------------------------------------------------
    def _check_exposure(self, exposure_s: float) -> None:
        if not 0 < exposure_s <= 60.0:
            raise ConfigError(f"{self.name}.exposure must be in (0, 60] s, not {exposure_s!r}")

    def _check_gain(self, gain) -> None:
        if isinstance(gain, str):  # a named gain mode of the camera (e.g. "High")
            return
        if not gain > 0:
            raise ConfigError(f"{self.name}.gain must be > 0 or a gain mode name, not {gain!r}")

    def _check_irradiance(self, irradiance_mW_cm2: float) -> None:
        cap = self.limits.irradiance_max_W_cm2 * 1e3
        if not 0 <= irradiance_mW_cm2 <= cap:
            raise LimitError(
                f"{self.name}: excitation irradiance {irradiance_mW_cm2:g} mW/cm^2 "
                f"is outside 0-{cap:g} mW/cm^2 (bench limit); nothing was sent"
            )

    def _exc_wavelength(self) -> float:
        return float(self.driver.get_excitation()[0])

    def _exc_irradiance(self) -> float:
        return float(self.driver.get_excitation()[1])

    def _set_exc_wavelength(self, wavelength_nm: float) -> None:
        self.driver.set_excitation(float(wavelength_nm), self._exc_irradiance())

    def _set_exc_irradiance(self, irradiance_mW_cm2: float) -> None:
        self.driver.set_excitation(self._exc_wavelength(), float(irradiance_mW_cm2))

    # -- acquisition ------------------------------------------------------------------------
    def _acquire_step(self) -> None:
        frames, infos = self._grab(1)
        t = frame_time(infos[0])
        self.image.put(
            np.asarray(frames[0]).astype(self.frame_dtype, copy=False),
            timestamp=t if np.isfinite(t) else self.clock.now(),
        )
