"""Pause, resume and abort from the live page, carried out the way Ctrl-C is.

The page's buttons run on the view server's thread, which must never call
``RE.abort()`` (it raises there while paused, and would race the plan).  So:

- **pause**: ``RE.request_pause(defer=False)`` (thread-safe: bluesky runs it on the
  RunEngine's loop).  The RunEngine stops every device the plan moved (AMF and laser
  off) and ``RE(plan)`` returns to its caller with ``RunEngineInterrupted``.
- **abort**: the same pause, then every energizing output off through its driver at
  once (as the safety monitor does), then the caller's thread, in :meth:`RunControls.run`,
  switches the outputs off again and calls ``RE.abort(reason)``: the plan's cleanup
  runs and the stop document reads ``exit_status="abort"``,
  ``reason="aborted from the live view"`` (bluesky's own ``close_run`` after an abort
  carries no reason: :meth:`RunControls.run` adds it).
- **resume**: the caller's thread calls ``RE.resume()``.

:meth:`RunControls.run` is what a caller uses in place of ``RE(plan)``: it waits while
paused from the page for the next decision, and re-raises ``RunEngineInterrupted`` for a
pause it did not ask for (Ctrl-C), so the caller's Ctrl-C handling is unchanged.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from labctl.core.errors import LabctlError

__all__ = ["RunControls", "ABORT_REASON"]

ABORT_REASON = "aborted from the live view"

log = logging.getLogger("labctl.view")


class RunControls:
    """The page's buttons for one RunEngine.

    ``RE``: the RunEngine.  ``outputs_off``: switches every energizing output off and
    returns the errors met (``Bench.outputs_off``).  ``on_status``: told ``"paused"``,
    ``"running"``, ``"aborting"`` (the page shows it).
    """

    def __init__(
        self,
        RE,
        outputs_off: Callable[[], list[str]],
        on_status: Callable[[str], None] | None = None,
    ) -> None:
        self.RE = RE
        self.outputs_off = outputs_off
        self.on_status = on_status or (lambda status: None)
        self.abort_reason: str | None = None  #: set once an abort was asked for
        self._decisions: queue.Queue[str] = queue.Queue()
        self._paused_by_view = False
        self._lock = threading.Lock()

    # -- the page's side (view server thread) ---------------------------------------------
    def pause(self) -> str:
        """Pause the running plan (outputs off); returns what happened, for the page."""
        with self._lock:
            if self.RE.state != "running":
                return f"nothing to pause (the RunEngine is {self.RE.state})"
            self._paused_by_view = True
            _request_pause(self.RE)
        self.on_status("paused")
        return "paused: outputs off"

    def resume(self) -> str:
        with self._lock:
            if not (self._paused_by_view and self.RE.state == "paused"):
                return "nothing to resume"
            self._decisions.put("resume")
        self.on_status("running")
        return "resuming"

    def abort(self, reason: str = ABORT_REASON) -> str:
        """Outputs off now, and the run aborted with ``reason`` by the caller's thread."""
        with self._lock:
            self.abort_reason = reason
            if self.RE.state == "running":
                self._paused_by_view = True
                _request_pause(self.RE)
            errors = self.outputs_off()
            self._decisions.put("abort")
        for error in errors:
            log.error("abort from the live view: %s", error)
        self.on_status("aborting")
        return "aborting: outputs off" + (f" (errors: {'; '.join(errors)})" if errors else "")

    # -- the caller's side (the thread that runs the plan) --------------------------------
    def run(self, plan):
        """``RE(plan)``, carrying out the page's pause, resume and abort (see the module
        docstring).  Returns the RunEngine's result."""
        from bluesky.preprocessors import msg_mutator
        from bluesky.utils import RunEngineInterrupted

        self._drain()
        if self.abort_reason is not None:
            raise LabctlError(f"not started: {self.abort_reason} before this plan began")
        plan = msg_mutator(plan, self._with_reason)
        call = lambda: self.RE(plan)  # noqa: E731
        while True:
            try:
                return call()
            except RunEngineInterrupted:
                if not self._paused_by_view:
                    raise
                decision = self._wait()
                self._paused_by_view = False
                if decision == "abort":
                    self.outputs_off()
                    return self.RE.abort(self.abort_reason or ABORT_REASON)
                call = self.RE.resume

    def _with_reason(self, msg):
        """bluesky's ``close_run`` after an abort carries no reason: add the page's."""
        if msg.command == "close_run" and self.abort_reason and not msg.kwargs.get("reason"):
            return msg._replace(kwargs={**msg.kwargs, "reason": self.abort_reason})
        return msg

    def _wait(self) -> str:
        """The page's next decision; Ctrl-C while waiting is the operator's interrupt."""
        from bluesky.utils import RunEngineInterrupted

        try:
            while True:
                try:
                    return self._decisions.get(timeout=0.2)
                except queue.Empty:
                    continue
        except KeyboardInterrupt:
            self._paused_by_view = False
            raise RunEngineInterrupted("interrupted while paused from the live view") from None

    def _drain(self) -> None:
        """Forget decisions left over from an earlier plan (an abort stays recorded)."""
        while True:
            try:
                self._decisions.get_nowait()
            except queue.Empty:
                return


def _request_pause(RE) -> None:
    """An immediate pause; a RunEngine already pausing or ending is left as it is."""
    from bluesky.utils import TransitionError

    try:
        RE.request_pause(defer=False)
    except TransitionError as exc:
        log.info("pause from the live view: %s", exc)
