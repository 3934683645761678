"""What every kind of instrument describes about itself, and the bench entry all share.

A :class:`Kind` is the one place that knows a kind of instrument (thermometer, AMF
generator, laser, camera...): its bench-file model (a :class:`DeviceEntry` subclass),
its ophyd device and how that device is built from an entry and a driver, what every
emulator of the kind is given on the simulated twin, what ``labctl devices`` prints,
whether it puts energy into the sample and which safety watch guards it.  ``Bench``,
the shell, ``labctl devices``, the twin, the safety monitor and the protocol runner
read kinds; none of them branches on a kind's name.
"""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    create_model,
    field_validator,
    model_validator,
)

from labctl.core.errors import ConfigError
from labctl.core.units import Quantity
from labctl.kinds.plugins import driver_class, load_object

__all__ = [
    "Kind",
    "DeviceEntry",
    "FaultEntry",
    "LINK_FAULT_KINDS",
    "build_driver",
    "entry_model",
]

#: faults of the byte link, which apply to every wired device
LINK_FAULT_KINDS = ("drop", "garble", "delay", "disconnect")


class FaultEntry(BaseModel):
    """A fault injected into a simulated device (``labctl.simulators.faults``);
    ignored on a real bench."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal[
        "drop",
        "garble",
        "delay",
        "disconnect",
        "probe_broken",
        "probe_stuck",
        "interlock_open",
        "keylock_off",
        "laser_overtemperature",
        "coolant_loss",
        "generator_trip",
    ]
    at_s: Quantity("s", ge=0.0, le=1e7) = Field(
        0.0, description="clock time after the bench starts, s"
    )
    duration_s: Quantity("s", gt=0, le=1e7) | None = Field(
        None, description="cleared after this long, s"
    )
    role: str | None = Field(None, description="probe faults: the thermometer role")
    value: Quantity("degC", ge=-50, le=150) | None = Field(
        None, description="probe_stuck: the frozen reading, C"
    )
    p: Quantity("dimensionless", ge=0.0, le=1.0) = Field(
        1.0, description="drop/garble probability per byte"
    )
    direction: Literal["in", "out", "both"] = "out"
    delay_s: Quantity("s", gt=0, le=3600) = 1.0


class DeviceEntry(BaseModel):
    """The keys every device of a bench file has; a kind's entry adds its own, and the
    driver's ``Options`` model takes the remaining keys (checked, never ignored)."""

    model_config = ConfigDict(extra="allow")

    #: instrument faults (besides link faults) the simulated twin can inject
    fault_kinds: ClassVar[tuple[str, ...]] = ()

    kind: str
    driver: str = Field(description="registered driver name, or 'package.module:Class'")
    address: str | None = Field(
        None, description="transport address; in sim mode replaced by sim://<name>"
    )
    sim_address: str | None = Field(
        None, description="in sim mode, use this address instead of sim://<name>"
    )
    timeout_s: Quantity("s", gt=0, le=600) = 1.0
    sim: dict[str, Any] = Field(
        default_factory=dict, description="extra emulator options (simulated benches)"
    )
    faults: list[FaultEntry] = Field(
        default_factory=list, description="faults injected into the simulated device"
    )
    _driver_options: dict[str, Any] = PrivateAttr(default_factory=dict)

    @field_validator("address", "sim_address")
    @classmethod
    def _has_scheme(cls, v):
        if v is not None and "://" not in v:
            raise ValueError(
                f"address {v!r} has no scheme (serial://, socket://, visa://, sim://...)"
            )
        return v

    @model_validator(mode="after")
    def _driver_and_options(self):
        try:
            cls = driver_class(self.driver)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        if cls.kind != self.kind:
            raise ValueError(f"driver {self.driver!r} drives a {cls.kind}, not a {self.kind}")
        options_model = getattr(cls, "Options", None)
        names = tuple(options_model.model_fields) if options_model is not None else ()
        extra = sorted(set(self.model_extra or {}) - set(names))
        if extra:  # only when the entry model was not made for this driver
            raise ValueError(
                f"unknown key(s) {', '.join(extra)}: neither {self.kind} keys nor options "
                f"of driver {self.driver!r} ({', '.join(names) or 'none'})"
            )
        values = {**(self.model_extra or {}), **{n: getattr(self, n, None) for n in names}}
        self._driver_options = {n: values[n] for n in names if n in values} if names else {}
        if options_model is not None:
            self._driver_options = options_model.model_validate(self._driver_options).model_dump()
        check = getattr(cls, "check_entry", None)
        if check is not None:  # the driver's own checks of the whole entry
            try:
                check(self)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return self

    @model_validator(mode="after")
    def _faults_apply(self):
        allowed = (
            (LINK_FAULT_KINDS if self.wired else ()) + type(self).fault_kinds if self.faults else ()
        )
        for i, fault in enumerate(self.faults):
            if fault.kind not in allowed:
                raise ValueError(
                    f"faults.{i}: fault {fault.kind!r} does not apply to a {self.kind} "
                    f"(allowed: {', '.join(allowed) or 'none'})"
                )
        return self

    @property
    def driver_options(self) -> dict[str, Any]:
        """The driver's validated ``Options`` (bench-file keys beside the kind's)."""
        return dict(self._driver_options)

    @property
    def driver_cls(self) -> type:
        return driver_class(self.driver)

    @property
    def wired(self) -> bool:
        """True when the driver talks over a byte link (not a Python camera interface)."""
        return self.driver_cls.wire != "none"


def build_driver(cls: type, transport, *, clock, options: dict, entry: DeviceEntry):
    """A driver from its class: ``cls.from_bench(...)`` if it has one, else
    ``cls(transport, clock=clock, **options)``."""
    from_bench = getattr(cls, "from_bench", None)
    if from_bench is None:
        return cls(transport, clock=clock, **options)
    kwargs: dict[str, Any] = {"clock": clock, "options": options}
    if "entry" in inspect.signature(from_bench).parameters:
        kwargs["entry"] = entry
    return from_bench(transport, **kwargs)


class Kind:
    """Description of one kind of instrument.  Subclass it for a new kind and register
    an instance under the ``labctl.kinds`` entry-point group."""

    #: the bench file's ``kind:`` value
    name: ClassVar[str]
    #: the bench-file model of a device of this kind
    entry: ClassVar[type[DeviceEntry]]
    #: "package.module:Class" of the ophyd device
    device: ClassVar[str]
    #: puts energy into the sample: switched off first at start-up, watched as an output
    energizes: ClassVar[bool] = False
    #: reads temperatures whose roles the safety monitor guards
    thermometer: ClassVar[bool] = False

    def device_class(self) -> type:
        return load_object(self.device)

    def device_options(self, name: str, entry: DeviceEntry, bench) -> dict[str, Any]:
        """Keyword arguments of the device beyond ``driver``, ``name``, ``clock``,
        ``limits`` (``bench`` is the :class:`~labctl.bench.Bench` being built)."""
        return {}

    def build_device(self, name: str, entry: DeviceEntry, driver, bench):
        """The ophyd device for ``entry`` on top of a connected ``driver``."""
        options = {"clock": bench.clock, "limits": bench.limits, "name": name}
        return self.device_class()(driver, **options, **self.device_options(name, entry, bench))

    def configure(self, device, entry: DeviceEntry, *, simulated: bool) -> None:
        """Settings applied once the device is connected (e.g. a camera's ROI)."""

    def emulator_options(self, name: str, entry: DeviceEntry, sample) -> dict[str, Any]:
        """What every emulator of this kind is given on the simulated twin."""
        return {}

    def describe(self, driver, entry: DeviceEntry) -> list[str]:
        """Identity and status lines for ``labctl devices`` (queries only)."""
        lines = []
        for method, label in (("identity", "identity"), ("get_device_info", "identity")):
            fn = getattr(driver, method, None)
            if callable(fn):
                lines.append(f"{label}: {format_info(fn())}")
                break
        return lines or [f"connected (no identity query for a {self.name})"]

    def watch(self, device, limits, margin: float):
        """The safety watch of an energizing device (None: not watched as an output)."""
        return None

    def roles(self, entry: DeviceEntry) -> dict[int, str]:
        """Channel index -> role, for kinds that read guarded roles."""
        return {}


def format_info(info) -> str:
    """``{"model": "X", "serial": "1"}`` -> ``model X, serial 1``."""
    if isinstance(info, dict):
        return ", ".join(f"{k} {v}" for k, v in info.items() if v not in (None, ""))
    if isinstance(info, list | tuple):
        return " ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in info)
    return str(info)


@cache
def entry_model(kind_name: str, driver: str) -> type[DeviceEntry]:
    """The bench-entry model of one kind with one driver: the kind's keys plus the
    driver's ``Options``, unknown keys refused where they stand.  A driver that cannot
    be loaded gives the kind's own model, whose validation then says why."""
    from labctl.kinds import get_kind

    base = get_kind(kind_name).entry
    try:
        cls = driver_class(driver)
    except ConfigError:
        return base
    options = getattr(cls, "Options", None)
    fields = {}
    if options is not None:
        fields = {n: (f.annotation, f) for n, f in options.model_fields.items()}
    model = create_model(
        f"{base.__name__}[{driver}]",
        __base__=base,
        __module__=base.__module__,
        **fields,
    )
    model.model_config["extra"] = "forbid"
    model.model_rebuild(force=True)
    return model
