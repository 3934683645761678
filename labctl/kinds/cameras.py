"""The camera kinds: optoacoustic (multispectral) and fluorescence.  Cameras have no
wire protocol: on a simulated bench the twin's simulated camera is the driver; on a
real bench the driver opens the camera through its vendor library."""

from __future__ import annotations

from pydantic import Field, field_validator

from labctl.core.units import Quantity
from labctl.kinds.base import DeviceEntry, Kind, format_info

__all__ = [
    "CameraEntry",
    "OptoacousticEntry",
    "FluorescenceEntry",
    "CameraKind",
    "OptoacousticKind",
    "FluorescenceKind",
    "OPTOACOUSTIC",
    "FLUORESCENCE",
]

#: (driver method, label) pairs that ``labctl devices`` prints when a camera has them
_QUERIES = (
    ("get_device_info", "identity"),
    ("identity", "identity"),
    ("get_detector_size", "detector (px)"),
    ("get_roi", "roi"),
    ("get_wavelengths", "wavelengths (nm)"),
    ("get_pulse_rate", "pulse rate (Hz)"),
    ("get_exposure", "exposure (s)"),
    ("get_gain", "gain"),
    ("get_excitation", "excitation (nm, mW/cm^2)"),
    ("get_filter", "filter"),
)


class CameraEntry(DeviceEntry):
    """Keys every camera has (``address``/``timeout_s`` are unused: no wire)."""

    roi: list[int] | None = Field(
        None, description="initial ROI [hstart, hend, vstart, vend(, hbin, vbin)], pixels"
    )
    stream_buffer: int = Field(200, ge=2, description="camera buffer while streaming, frames")
    frame_timeout_s: Quantity("s", gt=0, le=3600) = Field(
        10.0, description="how long a step acquisition may exceed its nominal time, s"
    )

    @field_validator("roi")
    @classmethod
    def _roi(cls, v):
        if v is not None and (len(v) not in (4, 6) or any(x < 0 for x in v)):
            raise ValueError("roi must be [hstart, hend, vstart, vend(, hbin, vbin)] >= 0")
        return v


class OptoacousticEntry(CameraEntry):
    """``kind: optoacoustic``: the excitation sweep and pulse averaging."""

    driver: str = "sim_msot"
    wavelengths: list[float] = Field(
        default_factory=lambda: [800.0], description="excitation sweep, nm (680-980)"
    )
    averages: int = Field(1, ge=1, le=1000, description="pulses averaged per wavelength")


class FluorescenceEntry(CameraEntry):
    """``kind: fluorescence``: exposure, gain, excitation and emission filter."""

    driver: str = "sim_fluorescence"
    exposure_s: Quantity("s", gt=0, le=3600) = 0.02
    gain: Quantity("dimensionless", gt=0, le=1e6) = 1.0
    excitation_nm: Quantity("nm", ge=400, le=2000) = 808.0
    irradiance_mW_cm2: Quantity("mW/cm^2", ge=0, le=1e4) = 50.0
    filter: str | None = Field(None, description="emission filter name (default: the camera's)")


class CameraKind(Kind):
    """What both camera kinds share: streaming into the run's store, ROI at start."""

    def device_options(self, name, entry: CameraEntry, bench) -> dict:
        return {
            "stream_buffer": entry.stream_buffer,
            "frame_timeout_s": entry.frame_timeout_s,
            "path_provider": lambda: getattr(bench.writer, "current_path", None),
        }

    def configure(self, device, entry: CameraEntry, *, simulated: bool) -> None:
        if entry.roi is not None:
            device.roi.set(entry.roi).wait()

    def describe(self, driver, entry: CameraEntry) -> list[str]:
        lines = []
        for method, label in _QUERIES:
            fn = getattr(driver, method, None)
            if callable(fn):
                lines.append(f"{label}: {format_info(fn())}")
        return lines or [f"connected (no identity query for a {self.name})"]


class OptoacousticKind(CameraKind):
    name = "optoacoustic"
    entry = OptoacousticEntry
    device = "labctl.devices.optoacoustic:OptoacousticCamera"

    def device_options(self, name, entry: OptoacousticEntry, bench) -> dict:
        return {**super().device_options(name, entry, bench), "averages": entry.averages}

    def emulator_options(self, name, entry: OptoacousticEntry, sample) -> dict:
        return {"wavelengths": list(entry.wavelengths)}


class FluorescenceKind(CameraKind):
    name = "fluorescence"
    entry = FluorescenceEntry
    device = "labctl.devices.fluorescence:FluorescenceCamera"

    def emulator_options(self, name, entry: FluorescenceEntry, sample) -> dict:
        return {
            "exposure_s": entry.exposure_s,
            "excitation_nm": entry.excitation_nm,
            "irradiance_mW_cm2": entry.irradiance_mW_cm2,
            "filter": entry.filter,
        }

    def configure(self, device, entry: FluorescenceEntry, *, simulated: bool) -> None:
        super().configure(device, entry, simulated=simulated)
        if not simulated:  # the twin's camera got them as options
            device.exposure.set(entry.exposure_s).wait()
            device.gain.set(entry.gain).wait()


OPTOACOUSTIC = OptoacousticKind()
FLUORESCENCE = FluorescenceKind()
