"""One bench entry to a connected driver: the transport its address names and the driver
class its ``driver:`` names, or the twin's simulated camera.  ``Bench`` and
``labctl devices`` both connect through here."""

from __future__ import annotations

from labctl.core.errors import ConfigError
from labctl.core.transport import open_transport
from labctl.kinds.base import build_driver

__all__ = ["connect_driver", "describe_address"]


def connect_driver(name: str, entry, config, clock, twin=None):
    """``(driver, transport)`` for device ``name``; ``transport`` is None for a device
    with no wire.  On a simulated bench (``twin``), wired drivers reach their emulator
    through ``sim://`` and a camera's driver is the twin's simulated camera."""
    cls = entry.driver_cls
    if not entry.wired:
        if twin is not None:
            return twin.cameras[name], None
        if getattr(cls, "simulation_only", False):
            raise ConfigError(
                f"devices.{name}: driver {entry.driver!r} is a simulated instrument; "
                "it needs mode: sim (or --sim)"
            )
        driver = build_driver(cls, None, clock=clock, options=entry.driver_options, entry=entry)
        return driver, None
    sims = twin.emulators if twin is not None else None
    transport = open_transport(
        config.address_of(name), timeout=entry.timeout_s, sims=sims, log=True
    )
    try:
        driver = build_driver(
            cls, transport, clock=clock, options=entry.driver_options, entry=entry
        )
    except BaseException:
        transport.close()
        raise
    return driver, transport


def describe_address(name: str, entry, config, twin=None) -> str:
    """Where a device is reached, as ``labctl devices`` prints it."""
    if not entry.wired:
        if twin is not None:
            return "simulated camera"
        return f"driver {entry.driver}"
    return config.address_of(name)
