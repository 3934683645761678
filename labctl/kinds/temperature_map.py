"""The temperature-map kind: the temperature of a whole region (a tumor) over its volume,
from MR or optoacoustic thermometry on a real bench, or the simulated twin's own
temperature field (``driver: sim_tumor_map``, simulation only).  Plans that take one
report the dose of the tumor (T90, CEM43T90) beside a probe's."""

from __future__ import annotations

from labctl.kinds.base import DeviceEntry, Kind

__all__ = ["TemperatureMapEntry", "TemperatureMapKind", "KIND"]


class TemperatureMapEntry(DeviceEntry):
    """``kind: temperature_map``: no keys of its own beside the driver's."""

    driver: str = "sim_tumor_map"


class TemperatureMapKind(Kind):
    name = "temperature_map"
    entry = TemperatureMapEntry
    device = "labctl.devices.temperature_map:TemperatureMap"

    def build_device(self, name, entry, driver, bench):
        return self.device_class()(driver, clock=bench.clock, name=name)

    def describe(self, driver, entry) -> list[str]:
        note = " (simulation only)" if getattr(driver, "simulation_only", False) else ""
        return [f"source: {driver.source}{note}"]


KIND = TemperatureMapKind()
