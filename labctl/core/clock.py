"""Time for everything on a bench: ``WallClock`` for real hardware, ``SimClock`` for
simulated benches.

Every device, driver wait, simulator and the safety monitor take time from a clock,
never from ``time.time``/``time.sleep`` directly.  Times are epoch seconds.

``SimClock`` modes:

- ``lockstep``: virtual time moves only when someone waits (``sleep``, ``wait_until``,
  ``advance``).  Periodic tasks fire at their virtual times, in order, inside the
  wait that passes them.  A 30-minute protocol runs in seconds and is repeatable.
- ``realtime``: virtual time follows wall time times ``speed``; periodic tasks run on
  a background thread.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from labctl.core.errors import ConfigError

__all__ = ["Clock", "WallClock", "SimClock", "PeriodicTask", "install_sleep_handler"]


#: the threads devices run their driver calls on (``Clock.run_worker``): enough for the
#: outputs of a bench to be set at once
_WORKERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="labctl-worker")


@dataclass(eq=False)
class PeriodicTask:
    """A callable run every ``period_s`` of clock time until cancelled."""

    clock: Clock
    period_s: float
    fn: Callable[[], object]
    name: str
    next_due: float
    cancelled: bool = False
    errors: list[BaseException] = field(default_factory=list)

    def cancel(self) -> None:
        self.cancelled = True
        self.clock._cancel(self)

    def _run(self) -> None:
        try:
            self.fn()
        except Exception as exc:  # a periodic task must never kill the clock
            self.errors.append(exc)


class Clock:
    """Interface every clock implements.  ``kind`` is recorded in run metadata."""

    kind = "abstract"
    speed = 1.0

    def now(self) -> float:
        """Current time, epoch seconds."""
        raise NotImplementedError

    def sleep(self, dt_s: float) -> None:
        """Let ``dt_s`` seconds of clock time pass (blocks, or advances virtual time)."""
        raise NotImplementedError

    async def async_sleep(self, dt_s: float) -> None:
        """Coroutine form of :meth:`sleep`, used by the RunEngine's ``sleep`` message."""
        raise NotImplementedError

    def call_every(
        self,
        period_s: float,
        fn: Callable[[], object],
        *,
        name: str = "task",
        start_in_s: float | None = None,
    ) -> PeriodicTask:
        """Run ``fn`` every ``period_s`` of clock time (first after ``start_in_s``)."""
        raise NotImplementedError

    def _cancel(self, task: PeriodicTask) -> None:
        raise NotImplementedError

    def run_worker(self, fn: Callable[[], object], *, name: str = "worker") -> Future:
        """Run ``fn`` on a worker thread (a device's ``set``/``trigger`` work) and return
        its future; the caller goes on while it runs.  Workers are a shared pool of
        threads (``_WORKERS``), so starting one costs no thread creation."""
        return _WORKERS.submit(fn)

    def wait_until(
        self, predicate: Callable[[], bool], timeout_s: float, poll_s: float = 0.1
    ) -> bool:
        """Wait until ``predicate()`` is true or ``timeout_s`` of clock time passed.

        Returns whether the predicate became true.  On a lockstep clock the wait
        advances virtual time in ``poll_s`` steps.
        """
        deadline = self.now() + timeout_s
        while True:
            if predicate():
                return True
            remaining = deadline - self.now()
            if remaining <= 0:
                return False
            self.sleep(min(poll_s, remaining))

    def describe(self) -> dict:
        """What to record in a run's start document."""
        return {"kind": self.kind, "speed": self.speed}


class _ThreadedTasks:
    """Periodic tasks on one daemon thread, timed in wall seconds (for real time)."""

    def __init__(self, clock: Clock, wall_period: Callable[[float], float]):
        self._clock = clock
        self._wall_period = wall_period
        self._tasks: list[PeriodicTask] = []
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, task: PeriodicTask) -> None:
        with self._cv:
            self._tasks.append(task)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="labctl-clock", daemon=True)
                self._thread.start()
            self._cv.notify_all()

    def remove(self, task: PeriodicTask) -> None:
        with self._cv:
            if task in self._tasks:
                self._tasks.remove(task)
            self._cv.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cv:
                live = [t for t in self._tasks if not t.cancelled]
                if not live:
                    self._cv.wait(timeout=0.5)
                    continue
                nxt = min(live, key=lambda t: t.next_due)
                delay = nxt.next_due - self._clock.now()
                if delay > 0:
                    self._cv.wait(timeout=self._wall_period(delay))
                    continue
                nxt.next_due += nxt.period_s
            nxt._run()


class WallClock(Clock):
    """Real time: ``time.time`` and ``time.sleep``."""

    kind = "wall"

    def __init__(self) -> None:
        self._tasks = _ThreadedTasks(self, lambda dt: dt)

    def now(self) -> float:
        return time.time()

    def sleep(self, dt_s: float) -> None:
        if dt_s > 0:
            time.sleep(dt_s)

    async def async_sleep(self, dt_s: float) -> None:
        await asyncio.sleep(max(dt_s, 0.0))

    def call_every(self, period_s, fn, *, name="task", start_in_s=None):
        _check_period(period_s, name)
        task = PeriodicTask(
            self, period_s, fn, name, self.now() + (period_s if start_in_s is None else start_in_s)
        )
        self._tasks.add(task)
        return task

    def _cancel(self, task):
        self._tasks.remove(task)


class SimClock(Clock):
    """Virtual time for simulated benches (see module docstring).

    Parameters
    ----------
    mode:
        ``"lockstep"`` or ``"realtime"``.
    speed:
        realtime only: virtual seconds per wall second.
    start:
        epoch seconds at which virtual time starts (default: now).
    """

    def __init__(
        self, mode: str = "lockstep", speed: float = 1.0, start: float | None = None
    ) -> None:
        if mode not in ("lockstep", "realtime"):
            raise ConfigError(f"clock mode must be 'lockstep' or 'realtime', not {mode!r}")
        if not speed > 0:
            raise ConfigError(f"clock speed must be > 0, not {speed!r}")
        self.mode = mode
        self.kind = f"sim-{mode}"
        self.speed = float(speed)
        self._start = time.time() if start is None else float(start)
        self._t = self._start
        self._wall0 = time.monotonic()
        self._lock = threading.RLock()
        self._heap: list[tuple[float, int, PeriodicTask]] = []
        self._seq = itertools.count()
        self._firing = False
        if mode == "realtime":
            self._threaded = _ThreadedTasks(self, lambda dt: dt / self.speed)

    @property
    def lockstep(self) -> bool:
        return self.mode == "lockstep"

    def run_worker(self, fn: Callable[[], object], *, name: str = "worker") -> Future:
        """As :meth:`Clock.run_worker`; on a lockstep clock the worker runs to its end
        before the caller goes on, so virtual time never advances in two threads at once
        and a run is deterministic."""
        future = super().run_worker(fn, name=name)
        if self.mode == "lockstep":
            wait([future])
        return future

    @property
    def elapsed(self) -> float:
        """Virtual seconds since the clock started."""
        return self.now() - self._start

    def now(self) -> float:
        if self.mode == "lockstep":
            return self._t
        return self._start + (time.monotonic() - self._wall0) * self.speed

    def advance(self, dt_s: float) -> None:
        """Lockstep: move virtual time forward by ``dt_s``, firing due periodic tasks."""
        if self.mode != "lockstep":
            raise RuntimeError("advance() is only for a lockstep SimClock")
        if dt_s < 0:
            raise ValueError(f"cannot advance a clock by a negative time ({dt_s} s)")
        with self._lock:
            target = self._t + dt_s
            if self._firing:
                # A periodic task that waits: move time, but do not nest task firing.
                self._t = max(self._t, target)
                return
            while self._heap and self._heap[0][0] <= target:
                due, _, task = heapq.heappop(self._heap)
                if task.cancelled:
                    continue
                self._t = max(self._t, due)
                task.next_due = due + task.period_s
                heapq.heappush(self._heap, (task.next_due, next(self._seq), task))
                self._firing = True
                try:
                    task._run()
                finally:
                    self._firing = False
            self._t = max(self._t, target)

    def sleep(self, dt_s: float) -> None:
        if dt_s <= 0:
            return
        if self.mode == "lockstep":
            self.advance(dt_s)
        else:
            time.sleep(dt_s / self.speed)

    async def async_sleep(self, dt_s: float) -> None:
        if self.mode == "lockstep":
            self.sleep(dt_s)
            await asyncio.sleep(0)
        else:
            await asyncio.sleep(max(dt_s, 0.0) / self.speed)

    def call_every(self, period_s, fn, *, name="task", start_in_s=None):
        _check_period(period_s, name)
        task = PeriodicTask(
            self, period_s, fn, name, self.now() + (period_s if start_in_s is None else start_in_s)
        )
        if self.mode == "lockstep":
            with self._lock:
                heapq.heappush(self._heap, (task.next_due, next(self._seq), task))
        else:
            self._threaded.add(task)
        return task

    def _cancel(self, task):
        if self.mode == "realtime":
            self._threaded.remove(task)
        # lockstep: cancelled tasks are dropped lazily from the heap

    def describe(self) -> dict:
        return {"kind": self.kind, "speed": self.speed, "start": self._start}


def _check_period(period_s: float, name: str) -> None:
    if not period_s > 0:
        raise ConfigError(f"periodic task {name!r}: period must be > 0 s, not {period_s!r}")


def install_sleep_handler(RE, clock: Clock) -> None:
    """Make the RunEngine's ``sleep`` message take time from ``clock``.

    With a lockstep ``SimClock`` an unmodified ``bps.sleep(60)`` advances the simulated
    world by exactly 60 s and returns at once.
    """

    async def _sleep(msg):
        await clock.async_sleep(float(msg.args[0]))

    RE.register_command("sleep", _sleep)
