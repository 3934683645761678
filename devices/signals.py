"""ophyd signals backed by driver calls, and the base class of labctl's devices.

A component declares the driver method names, units and (for writable signals) the
device method that validates a value against the bench limits::

    class AMFGenerator(LabDevice):
        field = Cpt(DriverSignal, getter="get_field_kA_m", setter="set_field_kA_m",
                    validator="check_field", units="kA/m")

``get()`` asks the instrument (timestamps from the bench clock); ``set()`` validates
synchronously (a ``LimitError`` is raised before any byte is sent) and then returns a
Status that finishes when the driver call returns.  The driver call always runs on a
worker thread started by the bench clock (:meth:`labctl.core.clock.Clock.run_worker`),
so the RunEngine's loop stays responsive; a lockstep simulated clock lets the worker
finish before the caller goes on, which keeps virtual time deterministic.
"""

from __future__ import annotations

from collections.abc import Callable

from ophyd import Device, Signal
from ophyd.status import Status
from ophyd.utils.errors import ReadOnlyError

from labctl.core.clock import Clock, WallClock
from labctl.core.limits import BenchLimits

__all__ = ["DriverSignalRO", "DriverSignal", "LabDevice", "run_in_status"]


def run_in_status(fn: Callable[[], object], clock: Clock, obj=None) -> Status:
    """Run ``fn`` and return a Status that finishes (or fails) with it."""
    status = Status(obj=obj)

    def work() -> None:
        try:
            fn()
        except Exception as exc:
            status.set_exception(exc)
        else:
            status.set_finished()

    (clock or WallClock()).run_worker(work, name=f"labctl-set-{getattr(obj, 'name', '')}")
    return status


class DriverSignalRO(Signal):
    """Read-only signal whose value comes from ``parent.driver.<getter>()``.

    Parameters
    ----------
    getter:
        name of a driver method (or of a device method, when prefixed ``"self."``).
    units, precision:
        reported in ``describe()``.
    """

    _write_access = False

    def __init__(
        self,
        *,
        getter: str,
        units: str | None = None,
        precision: int | None = None,
        value=0.0,
        **kwargs,
    ):
        super().__init__(value=value, **kwargs)
        self._getter = getter
        self._units = units
        self._precision = precision

    @property
    def write_access(self) -> bool:
        return self._write_access

    def _resolve(self, name: str):
        device = self.parent
        while device is not None and not hasattr(device, "driver"):
            device = device.parent
        if device is None:
            raise RuntimeError(f"{self.name}: no parent device with a driver")
        if name.startswith("self."):
            return getattr(device, name[5:])
        return getattr(device.driver, name)

    def _clock(self) -> Clock:
        device = self.parent
        while device is not None and not hasattr(device, "clock"):
            device = device.parent
        return device.clock if device is not None else WallClock()

    @property
    def source_name(self) -> str:
        device = self.parent
        driver = getattr(device, "driver", None)
        address = getattr(getattr(driver, "transport", None), "address", None)
        return f"{address or type(driver).__name__}:{self._getter}"

    def _update(self, value) -> None:
        Signal.put(self, value, timestamp=self._clock().now(), force=True)

    def get(self, **kwargs):
        value = self._resolve(self._getter)()
        self._update(value)
        return value

    def put(self, value, **kwargs):
        raise ReadOnlyError(f"{self.name} is read-only")

    def set(self, value, **kwargs):
        raise ReadOnlyError(f"{self.name} is read-only")

    def describe(self):
        desc = super().describe()
        if self._units is not None:
            desc[self.name]["units"] = self._units
        if self._precision is not None:
            desc[self.name]["precision"] = self._precision
        return desc


class DriverSignal(DriverSignalRO):
    """Writable signal: ``set(v)`` checks ``parent.<validator>(v)`` then calls
    ``parent.driver.<setter>(v)``; ``get()`` reads back through ``getter``."""

    _write_access = True

    def __init__(self, *, setter: str, validator: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self._setter = setter
        self._validator = validator

    def _validate(self, value) -> None:
        if self._validator is not None:
            self._resolve("self." + self._validator)(value)

    def put(self, value, **kwargs):
        self._validate(value)
        self._resolve(self._setter)(value)
        self._update(value)

    def stop(self, *, success: bool = False) -> None:
        """The RunEngine stops every object a plan ``set`` on pause, suspend, halt and
        abort: a signal of an energizing device passes that on, so its output goes off."""
        parent = self.parent
        if parent is not None and getattr(parent, "energizing", False):
            parent.stop(success=success)

    def set(self, value, **kwargs) -> Status:
        self._validate(value)

        def work() -> None:
            self._resolve(self._setter)(value)
            self._update(value)

        return run_in_status(work, self._clock(), obj=self)


class LabDevice(Device):
    """Base of labctl's ophyd devices: holds the ``driver``, the bench ``clock`` and the
    bench ``limits``.  Subclasses make ``stop()`` and ``unstage()`` de-energize.

    ``energizing`` devices (AMF generators, lasers) are also switched off when the
    RunEngine stops one of their signals (on pause, suspend, halt or abort).
    """

    energizing = False

    def _repr_info(self):
        # ophyd's Device adds read_attrs and configuration_attrs, found by walking every
        # component; ophyd and bluesky put a device's repr in every Status and message
        # trace (~0.3 ms a step here): name, parent and driver say which device it is
        yield from super(Device, self)._repr_info()
        yield ("driver", type(self.driver).__name__)

    def __init__(
        self,
        driver,
        *,
        clock: Clock | None = None,
        limits: BenchLimits | None = None,
        name: str,
        **kwargs,
    ):
        self.driver = driver
        self.clock = clock if clock is not None else WallClock()
        self.limits = limits if limits is not None else BenchLimits()
        super().__init__(name=name, **kwargs)
