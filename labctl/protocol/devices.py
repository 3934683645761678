"""Which bench devices a plan step gets.

A plan's device parameters are its positional parameters annotated with a device type
(``amf: AMFGenerator``, ``thermo: FiberOpticThermometer``; ``| None`` when optional).
A step names its devices in ``devices: {parameter: device name}``; a parameter it does
not name gets the bench's one device of that type (a device called like the parameter
breaks a tie), so a protocol works on any bench with one instrument of each kind it
needs, whatever the devices are called.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable

from labctl.core.errors import ConfigError

__all__ = ["device_parameters", "resolve_devices"]


def device_parameters(fn: Callable) -> dict[str, tuple[type, bool]]:
    """``{parameter: (device type, optional)}`` of a plan, in signature order."""
    hints = typing.get_type_hints(fn)
    found = {}
    for p in inspect.signature(fn).parameters.values():
        if p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD:
            continue
        hint = hints.get(p.name)
        optional = False
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            optional = len(args) < len(typing.get_args(hint))
            hint = args[0] if len(args) == 1 else None
        if isinstance(hint, type):
            found[p.name] = (hint, optional or p.default is None)
    return found


def resolve_devices(fn: Callable, named: dict[str, str], bench, where: str) -> dict:
    """``{parameter: device}`` for one step; ``named`` is the step's ``devices:``."""
    chosen = {}
    for pname, (dtype, optional) in device_parameters(fn).items():
        if pname in named:
            device = bench.devices.get(named[pname])
            if device is None:
                raise ConfigError(
                    f"{where}: devices.{pname} names {named[pname]!r}, which bench "
                    f"{bench.name!r} lacks (devices: {', '.join(bench.devices)})"
                )
            if not isinstance(device, dtype):
                raise ConfigError(
                    f"{where}: devices.{pname}: {named[pname]!r} is a "
                    f"{type(device).__name__}, the plan needs a {dtype.__name__}"
                )
            chosen[pname] = device
            continue
        fits = {n: d for n, d in bench.devices.items() if isinstance(d, dtype)}
        if len(fits) == 1:
            chosen[pname] = next(iter(fits.values()))
        elif pname in fits:
            chosen[pname] = fits[pname]
        elif fits:
            raise ConfigError(
                f"{where}: bench {bench.name!r} has several {dtype.__name__} devices "
                f"({', '.join(fits)}); say which in the step's devices: {{{pname}: ...}}"
            )
        elif not optional:
            raise ConfigError(
                f"{where}: the plan needs a {dtype.__name__} ({pname}), which bench "
                f"{bench.name!r} lacks (devices: {', '.join(bench.devices)})"
            )
    return chosen
