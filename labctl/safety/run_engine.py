"""The RunEngine side of the safety monitor: the plan wrapper and the sleep handler.

:func:`guarded` (installed as a RunEngine preprocessor by
:meth:`labctl.safety.monitor.SafetyMonitor.install`) arms the monitor for each plan, watches
which energizing devices the run uses, and after a trip: closes any event being
bundled (``drop``), saves the trip as the one event of a ``safety`` stream, throws
``SafetyTrip`` into the plan (whose cleanup still runs), and makes the stop document
read ``exit_status="abort"``, ``reason="safety trip: ..."``.  It also hands the plan
the labctl error behind a bluesky ``FailedStatus``, so a failed ``set`` is reported
with its cause.  :func:`interruptible_sleep` cuts the plan's sleeps short on a trip.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from bluesky.utils import FailedStatus, Msg

from labctl.core.clock import Clock
from labctl.core.errors import LabctlError, SafetyTrip
from labctl.safety.watches import Trip

if TYPE_CHECKING:
    from labctl.safety.monitor import SafetyMonitor

__all__ = ["guarded", "interruptible_sleep", "TripReading"]


class TripReading:
    """The trip as a readable, saved as the one event of the run's ``safety`` stream."""

    parent = None
    _KEYS = (
        ("kind", "string", ""),
        ("source", "string", ""),
        ("message", "string", ""),
        ("value", "number", ""),
        ("limit", "number", ""),
        ("outputs_off", "boolean", ""),
        ("trip_time", "number", "s"),
        ("off_time", "number", "s"),
    )

    def __init__(self, trip: Trip, name: str = "safety") -> None:
        self.name = name
        self.trip = trip

    def read(self):
        t = self.trip
        values = {
            "kind": t.kind,
            "source": t.source,
            "message": t.message,
            "value": t.value,
            "limit": t.limit,
            "outputs_off": t.outputs_off,
            "trip_time": t.time,
            "off_time": t.off_time,
        }
        return {
            f"{self.name}_{k}": {"value": values[k], "timestamp": t.time} for k, _, _ in self._KEYS
        }

    def describe(self):
        return {
            f"{self.name}_{k}": {
                "source": "labctl:safety",
                "dtype": dtype,
                "shape": [],
                "units": units,
            }
            for k, dtype, units in self._KEYS
        }

    def read_configuration(self):
        return {}

    def describe_configuration(self):
        return {}


def _trip_messages(monitor: SafetyMonitor, run_key, bundle_open: bool):
    """Close the event being bundled, then save the trip as a ``safety`` event.  A
    refusal (the RunEngine's bundle state differs after a rewind) is skipped: the trip
    is still thrown into the plan and kept by the monitor."""
    if bundle_open:
        with contextlib.suppress(Exception):  # no bundle open after all
            yield Msg("drop", run=run_key)
    try:
        yield Msg("create", name="safety", run=run_key)
        yield Msg("read", TripReading(monitor.trip_record), run=run_key)
        yield Msg("save", run=run_key)
    except Exception as exc:
        monitor.errors.append(exc)


class _RunState:
    """What :func:`guarded` knows of the plan's run: whether a run and an event bundle are
    open, whether the trip was delivered, and whether the plan is already failing."""

    def __init__(self, monitor: SafetyMonitor) -> None:
        self.monitor = monitor
        self.run_key = None
        self.run_open = self.bundle_open = self.delivered = self.failing = False

    @property
    def undelivered_trip(self) -> bool:
        return self.monitor.tripped and not self.delivered

    def trip(self, cause: BaseException | None = None):
        """Record the trip in the open run (``yield from``); returns the ``SafetyTrip`` to
        throw into the plan."""
        self.delivered = True
        if self.run_open:
            yield from _trip_messages(self.monitor, self.run_key, self.bundle_open)
            self.bundle_open = False
        exc = SafetyTrip(f"safety trip: {self.monitor.trip_record}")
        exc.__cause__ = cause
        return exc

    def rewrite(self, msg):
        """Keep track of runs and bundles; add the monitor to ``open_run`` and the trip's
        reason to ``close_run``; tell the monitor which devices the run uses."""
        command = msg.command
        if command == "open_run":
            self.run_key, self.run_open = msg.run, True
            override = (msg.kwargs.get("safety") or {}).get("temperature_max_C")
            if isinstance(override, dict) and override:
                self.monitor.tighten(override)
            msg = msg._replace(kwargs={**msg.kwargs, "safety_monitor": self.monitor.describe()})
        elif command == "close_run":
            self.run_open = False
            if self.delivered and not self.failing:
                msg = msg._replace(kwargs={**msg.kwargs, **self._abort_reason(msg)})
        elif command in ("stage", "set", "trigger", "read") and msg.obj is not None:
            self.monitor.use(msg.obj)
        if command == "create":
            self.bundle_open = True
        elif command in ("save", "drop"):
            self.bundle_open = False
        return msg

    def _abort_reason(self, msg) -> dict:
        reason = f"safety trip: {self.monitor.trip_record}"
        other = msg.kwargs.get("reason")
        if other and other not in reason:
            reason += f" (then: {other})"
        return {"exit_status": "abort", "reason": reason}


def guarded(monitor: SafetyMonitor, plan):
    """Forward ``plan``'s messages; after a trip, record it and throw ``SafetyTrip``."""
    state = _RunState(monitor)
    pending: BaseException | None = None
    resp = None
    monitor.begin()
    try:
        while True:
            try:
                msg = plan.throw(pending) if pending is not None else plan.send(resp)
            except StopIteration as stop:
                if state.undelivered_trip:
                    raise SafetyTrip(
                        f"safety trip after the plan ended: {monitor.trip_record}"
                    ) from None
                return stop.value
            pending, resp = None, None
            if state.undelivered_trip and state.failing:
                # the plan is already cleaning up after an error: record the trip, but do
                # not interrupt its cleanup (the monitor has switched the outputs off)
                state.delivered = True
                if state.run_open and not state.bundle_open:
                    yield from _trip_messages(monitor, state.run_key, False)
            elif state.undelivered_trip and (state.run_open or msg.command != "open_run"):
                pending = yield from state.trip()
                continue
            msg = state.rewrite(msg)
            try:
                resp = yield msg
            except GeneratorExit:
                plan.close()
                raise
            except BaseException as exc:
                exc = _unwrap(exc)
                state.failing = state.failing or not state.undelivered_trip
                pending = (yield from state.trip(exc)) if state.undelivered_trip else exc
    finally:
        monitor.end()


def _unwrap(exc: BaseException) -> BaseException:
    """The labctl error behind a ``FailedStatus`` (else ``exc`` itself)."""
    if isinstance(exc, FailedStatus) and exc.args:
        status = exc.args[0]
        try:
            inner = status.exception()
        except Exception:  # not an ophyd status: keep what bluesky raised
            return exc
        if isinstance(inner, LabctlError):
            return inner
    return exc


def interruptible_sleep(clock: Clock, monitor: SafetyMonitor | None):
    """A RunEngine ``sleep`` handler taking time from ``clock`` in steps of at most one
    monitor period (at its current pace), returning early once the monitor has tripped."""

    async def _sleep(msg):
        dt = float(msg.args[0])
        if monitor is None:
            await clock.async_sleep(dt)
            return
        end = clock.now() + dt
        while not monitor.tripped:
            remaining = end - clock.now()
            if remaining <= 1e-9:
                break
            await clock.async_sleep(min(remaining, monitor.current_period_s))

    return _sleep
