"""``SafetyMonitor``: a watchdog, independent of the plan, that switches energy off.

Every ``period_s`` of bench-clock time (so it behaves the same in a lockstep
simulation, where it runs inside the clock's advance, and on real hardware, where it
runs on the clock's thread) it reads the guarded thermometer roles and the status of
every energizing instrument through their drivers (checks: ``labctl.safety.watches``).
On over-temperature, an invalid, stale or stuck reading, an interlock, coolant or
instrument fault, an output beyond the limits or a lost link it **trips**:

1. switches every AMF generator and laser off through its driver, at once, from the
   thread that detected the trip (it does not wait for the plan or the RunEngine);
   if an output cannot be confirmed off it tries again every period until it can;
2. records a :class:`Trip` (``monitor.trips``) and, in the run, one event of a
   ``safety`` stream; the run's stop document gets ``exit_status="abort"`` and
   ``reason="safety trip: ..."``;
3. aborts the plan: the RunEngine preprocessor :meth:`SafetyMonitor.wrap` throws
   :class:`~labctl.core.errors.SafetyTrip` into the plan at its next message (the
   plan's own cleanup still runs), so ``RE(plan)`` raises ``SafetyTrip``.  The bench's
   ``sleep`` handler (``labctl.safety.run_engine.interruptible_sleep``) cuts a sleep short.

The same preprocessor hands the plan the labctl error behind a bluesky
``FailedStatus`` (a ``set`` whose driver call failed), so a run that fails on an
instrument error says which error in its stop document.

The monitor ticks while a run is in progress (it starts when the wrapped plan starts
and stops when it ends) or after :meth:`SafetyMonitor.start` (e.g. at an IPython prompt).
It checks every ``period_s`` while a watched instrument can deliver energy (the run
uses it, it was last seen energized, or a switch-off awaits confirmation); otherwise
(an imaging time course, say, with nothing it could switch off) every
``idle_period_s``, and back to ``period_s`` as soon as the run uses an energizing
device.  Staleness is counted in periods of the current pace.
During a run it reads the status of the energizing instruments the run uses (stages,
sets, triggers or reads); a trip switches off every energizing instrument of the bench.
When the run ends it confirms the outputs the run used are off (else it trips).
Limits: the bench's ``limits.temperature_max_C`` per role, tightened (never loosened)
by ``temperature_max_C`` given to the monitor or, for one run, by the plan metadata
``{"safety": {"temperature_max_C": {role: C}}}`` (a protocol's ``metadata``).
"""

from __future__ import annotations

import math
import threading
from dataclasses import replace

from labctl.core.clock import Clock
from labctl.core.errors import ConfigError, LabctlError
from labctl.core.limits import BenchLimits
from labctl.safety.watches import ProbeWatch, Problem, Trip

__all__ = ["SafetyMonitor", "Trip", "TRIP_KINDS"]

TRIP_KINDS = (
    "over_temperature",
    "invalid_reading",
    "stale_reading",
    "stuck_reading",
    "interlock",
    "coolant",
    "instrument_fault",
    "transport",
    "output_left_on",
    "over_output",
    "max_energized",
    "monitor_error",
)


class SafetyMonitor:
    """Watchdog over a bench's thermometers and energizing instruments.

    Parameters (units: s, C):
        clock: the bench clock. thermometers: ``{name: ophyd device}`` of the thermometers.
        energizers: ``{name: watch}``, the safety watch of each device that puts energy into
        the sample (its kind's ``watch``, e.g. ``AMFWatch``). limits: the bench's
        ``BenchLimits``. period_s: check period while energy can flow. idle_period_s: check
        period while no watched instrument can deliver energy. stale_periods: a guarded
        reading or an instrument status missing for this many periods trips. stuck_s: an
        identical guarded reading for this long trips (None: off). readback_margin: relative
        tolerance on output readbacks against the limits. temperature_max_C: per-role maxima
        that tighten the bench's.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        thermometers: dict | None = None,
        energizers: dict | None = None,
        limits: BenchLimits | None = None,
        period_s: float = 0.5,
        idle_period_s: float = 30.0,
        stale_periods: float = 2.0,
        stuck_s: float | None = None,
        readback_margin: float = 0.05,
        temperature_max_C: dict[str, float] | None = None,
    ) -> None:
        if not period_s > 0 or not stale_periods >= 1 or not idle_period_s >= period_s:
            raise ConfigError(
                f"safety: period_s must be > 0, idle_period_s >= period_s and "
                f"stale_periods >= 1, got {period_s!r}, {idle_period_s!r}, {stale_periods!r}"
            )
        if stuck_s is not None and not stuck_s > 0:
            raise ConfigError(f"safety: stuck_s must be > 0 s or None, got {stuck_s!r}")
        self.clock = clock
        self.limits = limits if limits is not None else BenchLimits()
        self.period_s = float(period_s)
        self.idle_period_s = float(idle_period_s)
        self.stale_periods = float(stale_periods)
        self.stuck_s = None if stuck_s is None else float(stuck_s)
        self.readback_margin = float(readback_margin)
        self._tighten = dict(temperature_max_C or {})
        self._run_tighten: dict[str, float] = {}
        self.probes = [
            ProbeWatch(dev, self.temperature_max_C) for dev in (thermometers or {}).values()
        ]
        self.outputs = list((energizers or {}).values())
        self.trips: list[Trip] = []  #: every trip since the monitor was made
        self.trip_record: Trip | None = None  #: the trip of the current run (None: none)
        self.errors: list[Exception] = []  #: unexpected errors met while checking
        self._lock = threading.RLock()
        self._tripped = threading.Event()
        self._task = None
        self._task_period: float | None = None
        self._pending: Trip | None = None  # a trip whose outputs await confirmation
        self._manual = False
        self._in_run = False
        self.checks = 0  #: checks done

    # -- configuration --------------------------------------------------------------------
    @property
    def stale_s(self) -> float:
        """Longest time without a valid reading or status, s (at the current pace)."""
        return self.stale_periods * self.current_period_s

    @property
    def current_period_s(self) -> float:
        """``period_s`` while a watched instrument can deliver energy, else
        ``idle_period_s``."""
        busy = self._pending is not None or any(w.active or w.energized for w in self.outputs)
        return self.period_s if busy else self.idle_period_s

    @property
    def temperature_max_C(self) -> dict[str, float]:
        """Effective per-role maxima, C: the bench's, tightened by overrides."""
        out = dict(self.limits.temperature_max_C)
        for extra in (self._tighten, self._run_tighten):
            for role, value in extra.items():
                out[role] = min(float(value), out.get(role, math.inf))
        return out

    @property
    def guarded(self) -> dict[str, str]:
        """Guarded role -> thermometer that reads it."""
        return {role: p.name for p in self.probes for role in p.guards}

    @property
    def unguarded(self) -> list[str]:
        """Roles with a temperature limit that no thermometer reads."""
        read = {role for p in self.probes for role in p.channels}
        return sorted(set(self.temperature_max_C) - read)

    def describe(self) -> dict:
        """Configuration for a run's start document."""
        return {
            "period_s": self.period_s,
            "idle_period_s": self.idle_period_s,
            "stale_s": self.stale_periods * self.period_s,
            "stuck_s": self.stuck_s,
            "readback_margin": self.readback_margin,
            "temperature_max_C": {
                r: v for r, v in self.temperature_max_C.items() if r in self.guarded
            },
            "unguarded_roles": self.unguarded,
            "energizers": [w.name for w in self.outputs],
        }

    # -- state ----------------------------------------------------------------------------
    @property
    def tripped(self) -> bool:
        return self._tripped.is_set()

    @property
    def running(self) -> bool:
        return self._task is not None

    def begin(self, temperature_max_C: dict[str, float] | None = None) -> None:
        """Arm for a new run: forget the last trip, reset the watches, check once, tick."""
        with self._lock:
            self._in_run = True
            self._run_tighten = dict(temperature_max_C or {})
            self.trip_record = None
            self._tripped.clear()
            now = self.clock.now()
            for p in self.probes:
                p.begin(now, self.temperature_max_C)
            for w in self.outputs:
                w.begin(now, active=self._manual)
            self._schedule()
        self.check()

    def use(self, obj) -> None:
        """The run uses ``obj`` (a device or one of its signals): if it is an energizing
        device, its status is checked from now on.  (Every output is switched off on a
        trip, used or not.)"""
        while getattr(obj, "parent", None) is not None:
            obj = obj.parent
        for w in self.outputs:
            if w.device is obj and not w.active:
                with self._lock:
                    w.begin(self.clock.now(), active=True)
                    self._pace()

    def tighten(self, temperature_max_C: dict[str, float]) -> None:
        """Tighten the current run's per-role maxima (C) from now on."""
        with self._lock:
            for role, value in temperature_max_C.items():
                self._run_tighten[role] = min(float(value), self._run_tighten.get(role, math.inf))
            for p in self.probes:
                p.guards = {r: v for r, v in self.temperature_max_C.items() if r in p.channels}

    def end(self) -> None:
        """The run is over: confirm the outputs it used are off (else trip: switch them
        off, retrying every period until confirmed), then stop ticking."""
        with self._lock:
            self._in_run = False
            self._run_tighten = {}
            if self.trip_record is None:
                self._verify_off()
            self._unschedule_if_idle()

    def _verify_off(self) -> None:
        for w in self.outputs:
            if not w.active:
                continue
            try:
                on = w.on(w.read())
            except LabctlError as exc:
                self.trip(
                    "transport", w.name, f"{w.name}: output not confirmed off after the run: {exc}"
                )
                return
            if on:
                self.trip("output_left_on", w.name, f"{w.name}: output still on after the run")
                return

    def start(self) -> None:
        """Tick until :meth:`stop`, also between runs (e.g. at an IPython prompt)."""
        self._manual = True
        self.begin()
        self._in_run = False

    def stop(self) -> None:
        self._manual = False
        self._unschedule_if_idle()

    def close(self) -> None:
        """Stop ticking for good (the bench is closing and switches outputs off itself)."""
        self._manual = False
        self._pending = None
        self._unschedule()

    def reset(self) -> None:
        """Acknowledge the last trip (the next run arms afresh anyway)."""
        with self._lock:
            self.trip_record = None
            self._tripped.clear()

    def _schedule(self) -> None:
        if self._task is None:
            self._task_period = self.current_period_s
            self._task = self.clock.call_every(self._task_period, self.check, name="safety")

    def _pace(self) -> None:
        """Tick at the current pace (a no-op unless it changed and the monitor ticks)."""
        if self._task is not None and self._task_period != self.current_period_s:
            self._unschedule()
            self._schedule()

    def _unschedule_if_idle(self) -> None:
        """Stop ticking unless a run, :meth:`start` or a pending switch-off needs it."""
        if not (self._manual or self._in_run or self._pending is not None):
            self._unschedule()

    def _unschedule(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
            self._task_period = None

    # -- checking -------------------------------------------------------------------------
    def check(self) -> Trip | None:
        """One check of everything watched; trips on the first problem.  Returns the
        current run's trip (None if none)."""
        with self._lock:
            self.checks += 1
            try:
                if self._pending is not None:
                    self._retry_off()
                if self.trip_record is not None:
                    return self.trip_record
                now = self.clock.now()
                problems: list[Problem] = []
                for p in self.probes:
                    problems += p.check(now, self.stale_s, self.stuck_s)
                for w in self.outputs:
                    problems += w.check(now, self.stale_s)
            except Exception as exc:  # a monitor that cannot check must fail safe
                self.errors.append(exc)
                problems = [
                    Problem(
                        "monitor_error",
                        "safety",
                        f"safety monitor check failed: {type(exc).__name__}: {exc}",
                    )
                ]
            if problems:
                first = min(problems, key=lambda p: TRIP_KINDS.index(p.kind))
                return self.trip(first.kind, first.source, first.message, first.value, first.limit)
            self._pace()
            return None

    def trip(
        self, kind: str, source: str, message: str, value: float = math.nan, limit: float = math.nan
    ) -> Trip:
        """Switch every output off now and record the trip (also usable by hand).

        The trip is flagged before the outputs are switched off, so a plan that meets the
        consequences of the switch-off (a cancelled switch-on...) is told why."""
        with self._lock:
            trip = Trip(self.clock.now(), kind, source, message, value, limit)
            self.trip_record = trip
            self.trips.append(trip)
            self._tripped.set()
            errors = self._switch_off()
            done = replace(
                trip,
                outputs_off=not errors,
                off_time=self.clock.now() if not errors else math.nan,
                off_errors=tuple(errors),
            )
            self._replace_trip(trip, done)
            if self.trip_record is trip:
                self.trip_record = done
            if errors:
                self._pending = done
                self._schedule()
                self._pace()
            return done

    def _replace_trip(self, old: Trip, new: Trip) -> None:
        self.trips = [new if t is old else t for t in self.trips]

    def _switch_off(self) -> list[str]:
        errors = []
        for w in self.outputs:
            try:
                w.switch_off()
            except LabctlError as exc:
                errors.append(f"{w.name}: {exc}")
        return errors

    def _retry_off(self) -> None:
        errors = self._switch_off()
        trip = self._pending
        if not errors and trip is not None:
            self._pending = None
            done = replace(trip, outputs_off=True, off_time=self.clock.now())
            if self.trip_record is trip:
                self.trip_record = done
            self._replace_trip(trip, done)
            self._unschedule_if_idle()

    # -- RunEngine integration ------------------------------------------------------------
    def wrap(self, plan):
        """RunEngine preprocessor: arm for the plan, deliver a trip into it
        (``labctl.safety.run_engine``)."""
        from labctl.safety.run_engine import guarded

        return guarded(self, plan)

    def install(self, RE) -> None:
        """Add :meth:`wrap` to ``RE.preprocessors`` (once)."""
        if self.wrap not in RE.preprocessors:
            RE.preprocessors.append(self.wrap)
