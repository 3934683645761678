"""Fiber-optic thermometer: one ophyd signal per probe, named by its role.

``FiberOpticThermometer(driver, roles={1: "tumor", 2: "rectal"}, name="thermo")`` builds
a device whose components come from ``roles``: ``thermo.tumor`` and ``thermo.rectal``
(degC, hinted) and ``thermo.tumor_status`` / ``thermo.rectal_status`` (``"ok"``,
``"invalid"``, ``"no probe"``, ``"fault"``, ``"disabled"``), plus the configuration
signals ``acquisition`` (``"fast"``/``"slow"``), ``enabled_channels`` and
``enclosure_temperature`` (degC).  The class for a given set of roles is generated
once (like ``ophyd.device.create_device_from_components``) and the constructor returns
an instance of it, so ``FiberOpticThermometer(...)`` stays the public form and
``isinstance(dev, FiberOpticThermometer)`` holds.

``trigger()`` queries every channel at once (one ``t``) and ``read()`` reports every
role from that query; ``thermo.tumor.get()`` asks the instrument for a fresh reading of
that channel.  An invalid reading (``---.-``: no probe, broken fiber) reads NaN and the
role's status says why (probe power is asked only when a reading is invalid).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import ClassVar, Protocol, runtime_checkable

from ophyd import Component as Cpt
from ophyd.device import DEVICE_RESERVED_ATTRS

from labctl.core.clock import Clock
from labctl.core.errors import ConfigError, LimitError
from labctl.core.limits import BenchLimits
from labctl.devices.signals import DriverSignal, DriverSignalRO, LabDevice, run_in_status

__all__ = ["FiberOpticThermometer", "ThermometerDriver", "PROBE_STATES"]

PROBE_STATES = ("unknown", "ok", "invalid", "no probe", "fault", "disabled")


@runtime_checkable
class ThermometerDriver(Protocol):
    """What a multi-channel thermometer driver offers the device (temperatures in C)."""

    channels: int

    def initialize(self) -> None:
        """Known state: no streaming, Celsius."""

    def read_temperatures(self) -> dict[int, float | None]:
        """Every enabled channel in one query: ``{channel: C or None (invalid)}``."""

    def read_channel(self, channel: int) -> float | None:
        """One channel, C or None."""

    def set_enabled_channels(self, channels: Iterable[int]) -> None: ...

    def enabled_channels(self) -> tuple[int, ...]: ...

    def acquisition_mode(self) -> str:
        """``"fast"`` or ``"slow"`` (averaging)."""

    def set_acquisition_mode(self, mode: str) -> None: ...

    def enclosure_temperature(self) -> float:
        """Instrument enclosure temperature, C."""

    def probe_status(self) -> dict[int, str]:
        """Per channel ``"ok"``, ``"no probe"`` or ``"fault"``."""


class _ChannelSignal(DriverSignalRO):
    """Base of the per-channel signals: ``read()`` reports the last acquisition."""

    def __init__(self, *, channel: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.channel = channel

    def read(self):
        self.parent._ensure_acquired()
        return {self.name: {"value": self._readback, "timestamp": self.timestamp}}


class _RoleTemperature(_ChannelSignal):
    """Temperature of one channel, degC (NaN when invalid); ``get()`` reads it afresh."""

    def get(self, **kwargs) -> float:
        return self.parent._read_channel(self.channel)


class _ProbeStatus(_ChannelSignal):
    """State of one channel's probe (see ``PROBE_STATES``); ``get()`` asks afresh."""

    def get(self, **kwargs) -> str:
        self.parent._read_channel(self.channel, with_probe=True)
        return self._readback


class FiberOpticThermometer(LabDevice):
    """Multi-channel fiber-optic thermometer with one signal per role.

    Parameters
    ----------
    driver:
        a :class:`ThermometerDriver` (e.g. ``labctl.devices.drivers.neoptix_reflex``).
    roles:
        ``{channel: role}``, e.g. ``{1: "tumor", 2: "rectal", 3: "skin"}``; only these
        channels are enabled for scanning (faster scans).
    clock, limits, name:
        as for every :class:`~labctl.devices.signals.LabDevice`; ``limits``'
        ``temperature_max_C`` (per role) serves :meth:`check_limits`.

    Construction talks to the instrument: ``initialize()`` then enables the role channels.
    """

    acquisition = Cpt(
        DriverSignal,
        getter="acquisition_mode",
        setter="set_acquisition_mode",
        validator="_check_acquisition",
        value="fast",
        kind="config",
    )
    enabled_channels = Cpt(DriverSignalRO, getter="self._enabled_list", value=[], kind="config")
    enclosure_temperature = Cpt(
        DriverSignalRO,
        getter="enclosure_temperature",
        units="degC",
        precision=1,
        value=math.nan,
        kind="config",
    )

    _role_map: ClassVar[dict[int, str] | None] = None
    _classes: ClassVar[dict[tuple[tuple[int, str], ...], type]] = {}

    def __new__(cls, driver=None, *, roles: dict[int, str] | None = None, **kwargs):
        if cls._role_map is not None:
            return super().__new__(cls)
        if roles is None:
            raise ConfigError("FiberOpticThermometer needs roles={channel: role}")
        return super().__new__(cls._class_for(roles))

    @classmethod
    def _class_for(cls, roles: dict[int, str]) -> type[FiberOpticThermometer]:
        """The device class with one temperature and one status signal per role."""
        key = tuple(sorted(_check_roles(roles).items()))
        if key not in cls._classes:
            components = {}
            for channel, role in key:
                components[role] = Cpt(
                    _RoleTemperature,
                    channel=channel,
                    getter="read_channel",
                    units="degC",
                    precision=1,
                    value=math.nan,
                    kind="hinted",
                )
                components[f"{role}_status"] = Cpt(
                    _ProbeStatus,
                    channel=channel,
                    getter="probe_status",
                    value="unknown",
                    kind="normal",
                )
            name = "FiberOpticThermometer_" + "_".join(role for _, role in key)
            cls._classes[key] = type(
                name,
                (cls,),
                {
                    "__doc__": cls.__doc__,
                    "__module__": cls.__module__,
                    "_role_map": dict(key),
                    **components,
                },
            )
        return cls._classes[key]

    def __init__(
        self,
        driver: ThermometerDriver,
        *,
        roles: dict[int, str],
        clock: Clock | None = None,
        limits: BenchLimits | None = None,
        name: str,
        **kwargs,
    ) -> None:
        super().__init__(driver, clock=clock, limits=limits, name=name, **kwargs)
        channels = getattr(driver, "channels", None)
        bad = [ch for ch in self._role_map if channels is not None and not 1 <= ch <= channels]
        if bad:
            raise ConfigError(
                f"{name}: roles use channels {bad}, but the thermometer has channels 1..{channels}"
            )
        self._acquired = False
        self._probe: dict[int, str] = {}
        driver.initialize()
        driver.set_enabled_channels(sorted(self._role_map))
        self.enabled_channels._update(sorted(self._role_map))

    # -- roles ----------------------------------------------------------------------
    @property
    def roles(self) -> dict[int, str]:
        """``{channel: role}``."""
        return dict(self._role_map)

    def role_signal(self, role: str) -> _RoleTemperature:
        """The temperature signal of ``role`` (``thermo.role_signal("tumor")``)."""
        if role not in self._role_map.values():
            raise KeyError(
                f"{self.name}: no role {role!r} (roles: {', '.join(self._role_map.values())})"
            )
        return getattr(self, role)

    def status_signal(self, role: str) -> _ProbeStatus:
        """The probe-status signal of ``role``."""
        self.role_signal(role)
        return getattr(self, f"{role}_status")

    def readings(self) -> dict[str, float]:
        """Last acquired temperature per role, degC (NaN = invalid)."""
        return {role: getattr(self, role)._readback for role in self._role_map.values()}

    # -- acquisition ----------------------------------------------------------------
    def trigger(self):
        """One query of every enabled channel; the Status finishes when it has arrived."""
        return run_in_status(self._acquire, self.clock, obj=self)

    def _acquire(self) -> None:
        values = self.driver.read_temperatures()
        if any(values.get(ch) is None for ch in self._role_map):
            self._probe = self.driver.probe_status()
        for channel, role in self._role_map.items():
            self._store(channel, role, values.get(channel), channel in values)
        self._acquired = True

    def _ensure_acquired(self) -> None:
        if not self._acquired:
            self._acquire()

    def _read_channel(self, channel: int, with_probe: bool = False) -> float:
        value = self.driver.read_channel(channel)
        if value is None or with_probe:
            self._probe = self.driver.probe_status()
        role = self._role_map[channel]
        self._store(channel, role, value, True)
        return getattr(self, role)._readback

    def _store(self, channel: int, role: str, value: float | None, enabled: bool) -> None:
        if not enabled:
            state = "disabled"
        elif value is not None:
            state = "ok"
        else:
            probe = self._probe.get(channel, "ok")
            state = probe if probe != "ok" else "invalid"
        getattr(self, role)._update(math.nan if value is None else float(value))
        getattr(self, f"{role}_status")._update(state)

    # -- configuration, limits ----------------------------------------------------------
    def _enabled_list(self) -> list[int]:
        return list(self.driver.enabled_channels())

    def _check_acquisition(self, mode: str) -> None:
        if mode not in ("fast", "slow"):
            raise ValueError(f"{self.name}.acquisition must be 'fast' or 'slow', not {mode!r}")

    def check_limits(self) -> None:
        """Raise ``LimitError`` if a role's last reading exceeds its bench maximum.

        Roles with a limit whose reading is invalid also raise: a guarded probe that
        cannot be read is not safe.
        """
        for role, value in self.readings().items():
            limit = self.limits.temperature_max_C.get(role)
            if limit is None:
                continue
            if math.isnan(value):
                raise LimitError(
                    f"{self.name}.{role}: no valid reading "
                    f"({getattr(self, f'{role}_status')._readback}) on a probe "
                    f"guarded at {limit:g} C"
                )
            self.limits.check_temperature(role, value)

    # -- bluesky hooks ----------------------------------------------------------------
    def stage(self):
        self._probe = self.driver.probe_status()
        return super().stage()

    def unstage(self):
        self._quiet()
        return super().unstage()

    def stop(self, *, success: bool = False) -> None:
        self._quiet()
        super().stop(success=success)

    def _quiet(self) -> None:
        """Nothing to de-energize; leave the serial line quiet (no streaming)."""
        if getattr(self.driver, "streaming", False):
            self.driver.stop_stream()


def _check_roles(roles: dict[int, str]) -> dict[int, str]:
    if not isinstance(roles, dict) or not roles:
        raise ConfigError(
            f"thermometer roles must be a non-empty {{channel: role}} dict, not {roles!r}"
        )
    seen: set[str] = set()
    for channel, role in roles.items():
        if not isinstance(channel, int) or channel < 1:
            raise ConfigError(
                f"thermometer role {role!r}: channel must be an integer >= 1, not {channel!r}"
            )
        if not isinstance(role, str) or not role.isidentifier() or role.startswith("_"):
            raise ConfigError(
                f"thermometer channel {channel}: role {role!r} must be a Python "
                "identifier not starting with '_' (e.g. 'tumor', 'rectal')"
            )
        for attr in (role, f"{role}_status"):
            if attr in DEVICE_RESERVED_ATTRS or hasattr(FiberOpticThermometer, attr):
                raise ConfigError(
                    f"thermometer channel {channel}: role {role!r} clashes with "
                    f"the device attribute {attr!r}; choose another name"
                )
        if role in seen:
            raise ConfigError(f"thermometer role {role!r} is given to two channels")
        seen.add(role)
    return roles
