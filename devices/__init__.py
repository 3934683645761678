"""Hardware abstractions (``labctl.devices``): one ophyd device per instrument kind, each
working with any driver that implements the kind's small driver interface, and the
protocol drivers of real instrument models in :mod:`labctl.devices.drivers`.

Names are imported on first use, so ``import labctl.devices`` stays light.
"""

from __future__ import annotations

from labctl._lazy import lazy_exports

__all__ = [
    "FiberOpticThermometer",
    "ThermometerDriver",
    "AMFGenerator",
    "AMFDriver",
    "AMFStatus",
    "AMFFault",
    "Laser",
    "LaserDriver",
    "OptoacousticCamera",
    "OptoacousticDriver",
    "FluorescenceCamera",
    "FluorescenceDriver",
    "CameraDevice",
    "CameraDriver",
    "TemperatureMap",
    "TemperatureMapDriver",
    "LabDevice",
    "DriverSignal",
    "DriverSignalRO",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "FiberOpticThermometer": "labctl.devices.thermometer",
        "ThermometerDriver": "labctl.devices.thermometer",
        "AMFGenerator": "labctl.devices.amf",
        "AMFDriver": "labctl.devices.amf",
        "AMFStatus": "labctl.devices.amf",
        "AMFFault": "labctl.devices.amf",
        "Laser": "labctl.devices.laser",
        "LaserDriver": "labctl.devices.laser",
        "OptoacousticCamera": "labctl.devices.optoacoustic",
        "OptoacousticDriver": "labctl.devices.optoacoustic",
        "FluorescenceCamera": "labctl.devices.fluorescence",
        "FluorescenceDriver": "labctl.devices.fluorescence",
        "CameraDevice": "labctl.devices.camera",
        "CameraDriver": "labctl.devices.camera",
        "TemperatureMap": "labctl.devices.temperature_map",
        "TemperatureMapDriver": "labctl.devices.temperature_map",
        "LabDevice": "labctl.devices.signals",
        "DriverSignal": "labctl.devices.signals",
        "DriverSignalRO": "labctl.devices.signals",
    },
)
