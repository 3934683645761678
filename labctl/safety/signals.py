"""Outputs off on SIGTERM and SIGHUP, as on Ctrl-C.

Python's default action for SIGTERM (a ``kill``, a service stop) and SIGHUP (a dropped
SSH session) ends the process without running ``finally`` blocks, so the generator and
the laser would stay on.  :class:`SignalGuard` handles both while it is installed:

1. if a RunEngine is executing or paused on a plan, aborts it with the reason
   (``"stopped by SIGTERM ..."``): the plan's cleanup runs and the run's stop document
   reads ``exit_status="abort"`` with that reason;
2. switches every output off at once (its ``outputs_off`` callable, from the main
   thread, without waiting for the plan's cleanup);
3. calls ``then`` (e.g. ask an interactive shell to end), and, unless the RunEngine is
   executing (it returns by raising ``RunEngineInterrupted`` once aborted), raises
   :class:`Terminated`, a ``KeyboardInterrupt``, so every ``finally`` block runs.

When the guard is removed (:meth:`SignalGuard.restore`, or the end of a ``with``
block) after a signal, it raises :class:`Terminated`, so the program ends with the
signal's exit status (128 + signal number) after its own cleanup.  A second signal
while the first is handled is ignored.  SIGKILL and power loss cannot be caught: the
instruments' own protection covers them (docs/hardware.md) and the next bench start
switches every output off first.

:func:`install_stop_reason` makes a RunEngine write the reason given to
``RE.abort(reason)`` into the stop document (bluesky's plan wrappers close an aborted
run without a reason).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

__all__ = [
    "SignalGuard",
    "Terminated",
    "HANDLED_SIGNALS",
    "CTRL_C_REASON",
    "abort_run",
    "install_stop_reason",
]

log = logging.getLogger("labctl.safety.signals")

#: the catchable signals that end a program by default (SIGINT is Ctrl-C, handled by bluesky)
HANDLED_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)

CTRL_C_REASON = "interrupted by the operator (Ctrl-C)"

#: RunEngine states in which ``RE(plan)`` has returned (nothing to wait for)
_NOT_EXECUTING = ("idle", "paused", "panicked")


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM or SIGHUP; the outputs were switched off."""

    def __init__(self, signum: int, reason: str) -> None:
        super().__init__(reason)
        self.signum = int(signum)
        self.reason = reason

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + self.signum


def signal_reason(signum: int) -> str:
    """What a stop document says about a signal."""
    name = signal.Signals(signum).name
    why = {"SIGTERM": "kill or service stop", "SIGHUP": "terminal or SSH session closed"}
    return f"stopped by {name} ({why.get(name, 'signal')})"


def abort_run(RE, reason: str) -> bool:
    """Abort ``RE``'s plan with ``reason`` if it has one (running or paused); True if so."""
    if RE is None or RE.state in ("idle", "panicked"):
        return False
    try:
        RE.abort(reason)
    except Exception as exc:  # already idle, or aborting: the cleanup is under way
        log.warning("abort after a stop request: %s: %s", type(exc).__name__, exc)
        return False
    return True


class SignalGuard:
    """Switch outputs off and abort the run on SIGTERM/SIGHUP (see the module).

    ``outputs_off``: callable switching every energizing output off.  ``run_engine``:
    the bluesky RunEngine whose plan to abort.  ``then``: called last (e.g. to end a
    shell).  Both can be given later with :meth:`attach` (install the guard first, then
    build the bench).  Installing outside the main thread is a no-op (Python delivers
    signals to the main thread only).
    """

    def __init__(
        self,
        outputs_off: Callable[[], object] | None = None,
        run_engine=None,
        *,
        then: Callable[[], object] | None = None,
        signals: tuple[int, ...] = HANDLED_SIGNALS,
    ) -> None:
        self.outputs_off = outputs_off
        self.run_engine = run_engine
        self.then = then
        self.signals = tuple(signals)
        self.signum: int | None = None  #: the first signal received (None: none)
        self._previous: dict[int, object] = {}
        self._busy = False

    @property
    def reason(self) -> str | None:
        """Why the program is stopping (None if no signal was received)."""
        return None if self.signum is None else signal_reason(self.signum)

    def attach(self, outputs_off: Callable[[], object], run_engine=None) -> SignalGuard:
        self.outputs_off, self.run_engine = outputs_off, run_engine
        return self

    def install(self) -> SignalGuard:
        if threading.current_thread() is not threading.main_thread():
            log.info("signal handlers can only be installed by the main thread; none installed")
            return self
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def restore(self, *, raising: bool = True) -> None:
        """Put the previous handlers back; raise :class:`Terminated` if a signal came
        (and ``raising``)."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()
        if raising and self.signum is not None:
            raise Terminated(self.signum, self.reason or "")

    def __enter__(self) -> SignalGuard:
        return self.install()

    def __exit__(self, exc_type, exc, tb) -> None:
        # a Terminated already on its way out is not raised twice
        self.restore(raising=not isinstance(exc, Terminated))

    def _call(self, fn) -> None:
        if fn is None:
            return
        try:
            errors = fn()
        except Exception as exc:  # one failing step must not stop the others
            log.error("on %s: %s: %s", self.reason, type(exc).__name__, exc)
            return
        for err in errors or ():
            log.error("on %s: %s", self.reason, err)

    def _handle(self, signum, frame) -> None:
        if self._busy:  # a second signal while the first is handled
            return
        self._busy = True
        try:
            first = self.signum is None
            if first:
                self.signum = signum
            log.warning("%s: switching outputs off and stopping", signal.Signals(signum).name)
            RE = self.run_engine
            executing = RE is not None and RE.state not in _NOT_EXECUTING
            # abort first (one turn of the RunEngine's loop), so the plan stops
            # commanding before the outputs go off under it
            abort_run(RE, self.reason or "")
            self._call(self.outputs_off)
            self._call(self.then)
        finally:
            self._busy = False
        if first and not executing:
            raise Terminated(signum, self.reason or "")


def install_stop_reason(RE) -> None:
    """Add a preprocessor to ``RE`` that gives an aborted run's stop document the reason
    passed to ``RE.abort(reason)`` when the plan closes the run without one."""
    from bluesky.utils import Msg

    def fill_reason(plan):
        resp = None
        pending: BaseException | None = None
        while True:
            try:
                msg = plan.throw(pending) if pending is not None else plan.send(resp)
            except StopIteration as stop:
                return stop.value
            pending, resp = None, None
            if (
                isinstance(msg, Msg)
                and msg.command == "close_run"
                and not msg.kwargs.get("reason")
                and msg.kwargs.get("exit_status") == "abort"
            ):
                # bluesky keeps the reason given to abort() here; its run wrappers
                # close an aborted run without it
                reason = getattr(RE, "_reason", "")
                if reason:
                    msg = msg._replace(kwargs={**msg.kwargs, "reason": reason})
            try:
                resp = yield msg
            except GeneratorExit:
                plan.close()
                raise
            except BaseException as exc:
                pending = exc

    RE.preprocessors.append(fill_reason)
