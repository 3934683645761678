"""The laser kind: a diode laser whose optical power and irradiance on the spot are
limited by the bench; energizing, watched by the safety monitor."""

from __future__ import annotations

from typing import ClassVar

from labctl.core.units import Quantity
from labctl.kinds.base import DeviceEntry, Kind, format_info

__all__ = ["LaserEntry", "LaserKind", "KIND"]


class LaserEntry(DeviceEntry):
    """``kind: laser``: wavelength, spot size on the sample and the diode's P-I curve
    (optical power = slope x (current - threshold))."""

    fault_kinds: ClassVar[tuple[str, ...]] = (
        "interlock_open",
        "keylock_off",
        "laser_overtemperature",
    )

    driver: str = "thorlabs_itc4000"
    wavelength_nm: Quantity("nm", ge=400, le=2000) = 808.0
    spot_diameter_mm: Quantity("mm", gt=0, le=100) = 8.0
    slope_W_per_A: Quantity("W/A", gt=0, le=100) = 1.0
    threshold_A: Quantity("A", ge=0, le=100) = 0.5
    current_limit_A: Quantity("A", gt=0, le=100) = 4.0


class LaserKind(Kind):
    name = "laser"
    entry = LaserEntry
    device = "labctl.devices.laser:Laser"
    energizes = True

    def device_options(self, name, entry: LaserEntry, bench) -> dict:
        return {
            "wavelength_nm": entry.wavelength_nm,
            "spot_diameter_mm": entry.spot_diameter_mm,
            "slope_W_per_A": entry.slope_W_per_A,
            "threshold_A": entry.threshold_A,
        }

    def emulator_options(self, name, entry: LaserEntry, sample) -> dict:
        return {**self.device_options(name, entry, None), "current_limit_A": entry.current_limit_A}

    def describe(self, driver, entry: LaserEntry) -> list[str]:
        lines = ["identity: " + format_info(driver.identify())]
        tripped = [k for k, v in driver.trips().items() if v]
        lines.append("trips: " + (", ".join(tripped) + " TRIPPED" if tripped else "none"))
        status = driver.read_status()
        values = ", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in status.items()
        )
        lines.append("status: " + values)
        return lines

    def watch(self, device, limits, margin: float):
        from labctl.safety.watches import LaserWatch

        return LaserWatch(device, limits, margin)


KIND = LaserKind()
