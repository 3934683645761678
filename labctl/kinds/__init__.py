"""Instrument kinds and the plugins that provide drivers, emulators and kinds.

- :mod:`labctl.kinds.base`: :class:`Kind` (one description per kind) and
  :class:`DeviceEntry` (the bench-file keys every device has).
- :mod:`labctl.kinds.plugins`: the ``labctl.drivers``, ``labctl.emulators`` and
  ``labctl.kinds`` entry-point groups.
- One module per kind labctl ships: thermometer, amf, laser, cameras.
"""

from __future__ import annotations

from functools import cache

from labctl.core.errors import ConfigError
from labctl.kinds.base import DeviceEntry, Kind
from labctl.kinds.plugins import KINDS_GROUP, registered

__all__ = ["Kind", "DeviceEntry", "get_kind", "all_kinds"]


@cache
def all_kinds() -> dict[str, Kind]:
    """Every registered kind by name (labctl's own and those of installed packages)."""
    kinds = {}
    for name, ep in sorted(registered(KINDS_GROUP).items()):
        try:
            kind = ep.load()
        except Exception as exc:  # a broken plugin must name itself
            raise ConfigError(f"kind {name!r} ({ep.value}) failed to load: {exc}") from exc
        if not isinstance(kind, Kind) or kind.name != name:
            raise ConfigError(
                f"kind plugin {name!r} ({ep.value}) is not a labctl Kind named {name!r}"
            )
        kinds[name] = kind
    return kinds


def get_kind(name: str) -> Kind:
    """The kind called ``name`` (a bench entry's ``kind:``)."""
    kinds = all_kinds()
    if name not in kinds:
        raise ConfigError(f"unknown kind {name!r} (known: {', '.join(kinds)})")
    return kinds[name]
