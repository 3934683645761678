"""Which driver, ophyd device and emulator serve each ``driver:`` name in a bench file.

Classes are named by import path and loaded on demand, so reading a bench file does
not import every instrument module.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

__all__ = ["InstrumentEntry", "INSTRUMENTS", "load_object"]


@dataclass(frozen=True)
class InstrumentEntry:
    driver: str  #: "module:Class" of the protocol driver
    device: str  #: "module:Class" of the ophyd device for the kind
    emulator: str  #: "module:Class" of the emulator speaking the same protocol
    wire: str  #: "serial" (served as socket://), "scpi" (a VISA SOCKET resource) or "none"
    #: (cameras: a Python interface, no wire; "emulator" is then the simulated camera)


INSTRUMENTS: dict[str, InstrumentEntry] = {
    "neoptix_reflex": InstrumentEntry(
        "labctl.devices.drivers.neoptix_reflex:NeoptixReflex",
        "labctl.devices.thermometer:FiberOpticThermometer",
        "labctl.simulators.instruments.neoptix_reflex:NeoptixReflexEmulator",
        "serial",
    ),
    "ambrell_easyheat": InstrumentEntry(
        "labctl.devices.drivers.ambrell_easyheat:AmbrellEasyHeat",
        "labctl.devices.amf:AMFGenerator",
        "labctl.simulators.instruments.ambrell_easyheat:AmbrellEasyHeatEmulator",
        "serial",
    ),
    "thorlabs_itc4000": InstrumentEntry(
        "labctl.devices.drivers.thorlabs_itc4000:ThorlabsITC4000",
        "labctl.devices.laser:Laser",
        "labctl.simulators.instruments.thorlabs_itc4000:ITC4000Emulator",
        "scpi",
    ),
    "sim_msot": InstrumentEntry(
        "labctl.simulators.instruments.oa_camera:SimMSOT",
        "labctl.devices.optoacoustic:OptoacousticCamera",
        "labctl.simulators.instruments.oa_camera:SimMSOT",
        "none",
    ),
    "sim_fluorescence": InstrumentEntry(
        "labctl.simulators.instruments.fluo_camera:SimFluorescenceCamera",
        "labctl.devices.fluorescence:FluorescenceCamera",
        "labctl.simulators.instruments.fluo_camera:SimFluorescenceCamera",
        "none",
    ),
    "pylablib": InstrumentEntry(
        "labctl.devices.drivers.pylablib_camera:PylablibCamera",
        "labctl.devices.fluorescence:FluorescenceCamera",
        "labctl.simulators.instruments.fluo_camera:SimFluorescenceCamera",
        "none",
    ),
}


def load_object(path: str):
    """Import ``"package.module:Name"`` and return the object."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)
