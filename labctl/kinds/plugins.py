"""Driver, emulator and kind plugins, found through Python entry points.

Three entry-point groups, one per thing a package can add (labctl's own drivers register
through the same groups in its ``pyproject.toml``):

- ``labctl.drivers``: a name -> a driver class.  The class says which ``kind`` of
  instrument it drives, how its bytes travel (``wire``: ``"serial"``, ``"scpi"`` or
  ``"none"``), which ``emulator`` stands in for it on a simulated bench, and optionally
  its bench-file ``Options`` (a pydantic model of the keys it takes beside its kind's).
- ``labctl.emulators``: a name -> an emulator class (bytes in, bytes out, coupled to the
  simulated world) or a simulated camera.
- ``labctl.kinds``: a name -> a :class:`labctl.bench.kinds.Kind` instance, for a package
  that adds a kind of instrument labctl does not know.

A bench entry names its driver by a registered name (``driver: neoptix_reflex``) or by
an import path (``driver: mylab.drivers:MyThermometer``); an emulator is named the same
way by the driver's ``emulator`` attribute.  Only the named classes are imported.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from labctl.core.errors import ConfigError

__all__ = [
    "DRIVERS_GROUP",
    "EMULATORS_GROUP",
    "KINDS_GROUP",
    "WIRES",
    "driver_class",
    "emulator_class",
    "kind_names",
    "load_object",
    "registered",
]

DRIVERS_GROUP = "labctl.drivers"
EMULATORS_GROUP = "labctl.emulators"
KINDS_GROUP = "labctl.kinds"
#: how a driver's bytes travel, and so how ``labctl sim serve`` publishes its emulator
WIRES = ("serial", "scpi", "none")


def load_object(path: str) -> Any:
    """Import ``"package.module:Name"`` and return the object."""
    module, sep, name = path.partition(":")
    if not sep or not module or not name:
        raise ConfigError(f"{path!r} is not an import path of the form 'package.module:Name'")
    try:
        obj = importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module!r} (from {path!r}): {exc}") from exc
    for part in name.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"{module!r} has no {name!r} (from {path!r})") from None
    return obj


@cache
def registered(group: str) -> dict[str, Any]:
    """``{name: entry point}`` of one group, as installed packages declare them."""
    return {ep.name: ep for ep in entry_points(group=group)}


def _resolve(group: str, name: str, what: str) -> Any:
    if ":" in name:
        return load_object(name)
    eps = registered(group)
    if name not in eps:
        known = ", ".join(sorted(eps)) or "none installed"
        raise ConfigError(
            f"unknown {what} {name!r} (registered: {known}; or give an import path "
            "'package.module:Class')"
        )
    try:
        return eps[name].load()
    except Exception as exc:  # a broken plugin must name itself
        raise ConfigError(f"{what} {name!r} ({eps[name].value}) failed to load: {exc}") from exc


def driver_class(name: str) -> type:
    """The driver class a bench entry's ``driver:`` names, checked for the plugin
    attributes (``kind``, ``wire``, ``emulator``)."""
    cls = _resolve(DRIVERS_GROUP, name, "driver")
    missing = [a for a in ("kind", "wire") if not isinstance(getattr(cls, a, None), str)]
    if missing:
        raise ConfigError(
            f"driver {name!r} ({getattr(cls, '__qualname__', cls)}) lacks the class "
            f"attribute(s) {', '.join(missing)} that a labctl driver declares"
        )
    if cls.wire not in WIRES:
        raise ConfigError(f"driver {name!r}: wire {cls.wire!r} is not one of {WIRES}")
    return cls


def emulator_class(driver: type, driver_name: str) -> type:
    """The emulator (or simulated camera) standing in for ``driver`` on a simulated bench."""
    name = getattr(driver, "emulator", None)
    if not name:
        raise ConfigError(f"driver {driver_name!r} names no emulator: it cannot run simulated")
    return _resolve(EMULATORS_GROUP, name, "emulator")


def kind_names() -> list[str]:
    """Names of every registered instrument kind."""
    return sorted(registered(KINDS_GROUP))
