"""Live feedback while a plan runs: a progress display, a live table, live plots.

- :class:`ProgressDisplay` (``labctl run``): phase, elapsed and remaining time, the
  controlled temperature and CEM43 of a long plan.  On a terminal it rewrites one line
  at most ``interval_s`` of wall time apart; otherwise (CI, a log file) it prints a
  plain line at most every ``interval_s`` (5 s by default) and at each phase change.
  Elapsed time is bench-clock time (reading timestamps), so a lockstep simulation
  running 1000x faster than real time shows the experiment's own minutes.
- :class:`HintedLiveTable` (``labctl shell``): bluesky's ``LiveTable`` of the hinted
  fields of each run's ``primary`` stream, at most one row per ``min_interval_s``.
- :func:`live_plots`: bluesky's ``BestEffortCallback`` plots when a display exists and
  matplotlib is installed, else ``None`` (tables only).

All are plain bluesky callbacks: ``RE.subscribe(ProgressDisplay())``.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from typing import TextIO

from labctl.analysis.dose import cem43_rate
from labctl.report.summary import headline_results

__all__ = [
    "ProgressDisplay",
    "HintedLiveTable",
    "live_plots",
    "has_display",
    "fmt_duration",
    "expected_remaining_s",
]

#: phase codes of ``labctl.plans.state.PHASES`` (kept here so this module stays light)
_PHASE_NAMES = {
    0: "equilibrate",
    1: "baseline",
    2: "ramp",
    3: "hold",
    4: "heat",
    5: "cool",
    6: "done",
}


def has_display() -> bool:
    """True where a GUI window can open (X11/Wayland, macOS, Windows)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def fmt_duration(seconds: float) -> str:
    """``h:mm:ss`` (or ``m:ss`` under an hour); ``--:--`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    s = int(round(max(seconds, 0.0)))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def expected_remaining_s(
    start: dict, elapsed_s: float, T_C: float, cem43_min: float, reached_at_s: float | None
) -> tuple[float, bool] | None:
    """Remaining plan time (s) and whether it is an estimate, from the start document.

    Known plans: their duration arguments; closed-loop hyperthermia counts its hold from
    the first reading at target (``reached_at_s``, s after the first event) and, with
    ``stop_on: cem43``, extrapolates the dose rate at ``T_C``.  Other plans may put an
    ``expected_duration_s`` in their start document.  ``None`` when unknown.
    """
    args = start.get("plan_args") or {}
    plan = start.get("plan_name")

    def num(key, default=0.0):
        v = args.get(key, default)
        return float(v) if isinstance(v, int | float) else default

    if plan in ("magnetic_hyperthermia", "image_guided_hyperthermia"):
        if args.get("stop_on") == "cem43":
            target = num("cem43_target", math.nan)
            if not math.isfinite(T_C) or T_C < 39.0 or not math.isfinite(target):
                return None
            return max(target - cem43_min, 0.0) / float(cem43_rate(T_C)) * 60.0, True
        hold = num("hold")
        if reached_at_s is not None:
            return max(hold - (elapsed_s - reached_at_s), 0.0), False
        target, rate = num("target", math.nan), num("ramp_rate", 0.0)
        ramp = max(target - T_C, 0.0) / rate * 60.0 if rate > 0 and math.isfinite(T_C) else 0.0
        return hold + ramp, True
    if plan == "photothermal_therapy":
        return max(num("duration") - elapsed_s, 0.0), False
    if plan == "sar_measurement":
        total = (
            num("equilibrate", 60.0) + num("baseline", 30.0) + num("heat_time") + num("cool_time")
        )
        return max(total - elapsed_s, 0.0), False
    if plan == "photothermal_conversion":
        total = num("baseline", 30.0) + num("heat_time") + num("cool_time")
        return max(total - elapsed_s, 0.0), False
    expected = start.get("expected_duration_s")
    if isinstance(expected, int | float):
        return max(float(expected) - elapsed_s, 0.0), True
    return None


class ProgressDisplay:
    """A bluesky callback printing the progress of each run (see the module docstring).

    ``out``: text stream (default ``sys.stdout``); ``tty``: rewrite one line (default:
    ``out.isatty()``); ``interval_s``: wall seconds between updates (0.25 on a terminal,
    5 otherwise); ``wall``: the wall clock used for throttling (tests pass a fake).
    """

    def __init__(
        self,
        out: TextIO | None = None,
        *,
        tty: bool | None = None,
        interval_s: float | None = None,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out = out if out is not None else sys.stdout
        if tty is None:
            isatty = getattr(self.out, "isatty", None)
            tty = bool(isatty and isatty())
        self.tty = tty
        self.interval_s = interval_s if interval_s is not None else (0.25 if tty else 5.0)
        self.wall = wall
        self._reset({})

    def _reset(self, start: dict) -> None:
        self.start_doc = start
        self.streams: dict[str, str] = {}
        self.units: dict[str, dict] = {}
        self.temp_key: str | None = None
        self.cem_key: str | None = None
        self.phase_key: str | None = None
        self.setpoint_key: str | None = None
        self.t0: float | None = None
        self.elapsed = 0.0
        self.T = math.nan
        self.cem43 = math.nan
        self.setpoint = math.nan
        self.phase: str | None = None
        self.reached_at: float | None = None
        self.events = 0
        self.last_print = -math.inf
        self.line_open = False
        self.last_line = ""
        self.results: list[str] = []

    # -- bluesky callback protocol ------------------------------------------------------
    def __call__(self, name: str, doc: dict) -> None:
        handler = getattr(self, f"_{name}", None)
        if handler is not None:
            handler(doc)

    def _start(self, doc: dict) -> None:
        self._reset(doc)

    def _descriptor(self, doc: dict) -> None:
        self.streams[doc["uid"]] = doc.get("name", "primary")
        keys = doc.get("data_keys", {})
        for k, v in keys.items():
            self.units[k] = v
        if doc.get("name", "primary") != "primary":
            return
        channel = self.start_doc.get("control_channel") or (
            self.start_doc.get("plan_args") or {}
        ).get("channel")
        temps = [
            k
            for k, v in keys.items()
            if v.get("units") == "degC"
            and v.get("shape") == []
            and not k.endswith("_setpoint")
            and "tec" not in k
        ]
        if channel:
            match = [k for k in temps if k.endswith(f"_{channel}")]
            temps = match or temps
        self.temp_key = temps[0] if temps else None
        self.cem_key = next((k for k in keys if k.endswith("_cem43")), None)
        self.phase_key = next(
            (k for k in keys if k.endswith("_phase") and keys[k].get("dtype") == "integer"), None
        )
        self.setpoint_key = next(
            (k for k, v in keys.items() if k.endswith("_setpoint") and v.get("units") == "degC"),
            None,
        )

    def _event(self, doc: dict) -> None:
        stream = self.streams.get(doc["descriptor"])
        if stream == "analysis":
            self.results = headline_results(doc["data"], self.units)
            return
        if stream != "primary":
            return
        self.events += 1
        data, ts = doc["data"], doc.get("timestamps", {})
        t = float(ts.get(self.temp_key, doc["time"])) if self.temp_key else float(doc["time"])
        if self.t0 is None:
            self.t0 = t
        self.elapsed = t - self.t0
        if self.temp_key and self.temp_key in data:
            self.T = _float(data[self.temp_key])
        if self.cem_key in data:
            self.cem43 = _float(data[self.cem_key])
        if self.setpoint_key in data:
            self.setpoint = _float(data[self.setpoint_key])
        target = self.start_doc.get("target_C")
        if self.reached_at is None and isinstance(target, int | float) and target <= self.T:
            self.reached_at = self.elapsed
        phase = self.phase
        if self.phase_key in data:
            phase = _PHASE_NAMES.get(int(data[self.phase_key]), str(data[self.phase_key]))
        changed = phase != self.phase
        self.phase = phase
        now = self.wall()
        if changed or now - self.last_print >= self.interval_s:
            self.last_print = now
            self._show(self.status_line())

    def _stop(self, doc: dict) -> None:
        if self.events:
            line = self.status_line(final=True)
            if self.tty or line != self.last_line:
                self._show(line)
        self._end_line()
        status = doc.get("exit_status", "")
        for line in self.results:
            self._write(f"  {line}\n")
        if status and status != "success":
            reason = doc.get("reason") or ""
            self._write(f"  run ended: {status}" + (f" ({reason})" if reason else "") + "\n")
        self.out.flush()

    # -- text ---------------------------------------------------------------------------
    def status_line(self, final: bool = False) -> str:
        """One line: phase, elapsed/remaining, temperature (-> setpoint), CEM43."""
        parts = [f"{self.phase or self.start_doc.get('plan_name', 'run'):<11}"]
        left = (
            None
            if final
            else expected_remaining_s(
                self.start_doc,
                self.elapsed,
                self.T,
                self.cem43 if math.isfinite(self.cem43) else 0.0,
                self.reached_at,
            )
        )
        when = f"t {fmt_duration(self.elapsed)}"
        if left is not None:
            when += f" / {'~' if left[1] else ''}{fmt_duration(left[0])} left"
        parts.append(when)
        if self.temp_key:
            role = self.temp_key.rsplit("_", 1)[-1]
            temp = f"{role} {self.T:5.1f} C"
            if math.isfinite(self.setpoint):
                temp += f" (setpoint {self.setpoint:.1f})"
            parts.append(temp)
        therapy = "target_C" in self.start_doc or self.cem43 > 0
        if math.isfinite(self.cem43) and therapy:
            parts.append(f"CEM43 {self.cem43:.2f} min")
        if not self.temp_key:
            parts.append(f"{self.events} events")
        return "  ".join(parts)

    def _show(self, line: str) -> None:
        self.last_line = line
        if self.tty:
            self._write(f"\r{line}\x1b[K")
            self.line_open = True
        else:
            self._write(f"  {line}\n")
        self.out.flush()

    def _end_line(self) -> None:
        if self.line_open:
            self._write("\n")
            self.line_open = False

    def _write(self, text: str) -> None:
        self.out.write(text)


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


class HintedLiveTable:
    """bluesky ``LiveTable`` of the hinted scalar fields of each run's ``primary`` stream.

    The fields are chosen per run from the descriptor's hints (all scalar numbers if
    there are none), as many as fit ``width`` columns (default: the terminal's).  Rows
    are printed at most every ``min_interval_s`` wall seconds (0: every event; the last
    row of a run is always shown), so a fast simulated loop does not flood the terminal.
    """

    def __init__(
        self,
        *,
        min_interval_s: float = 0.0,
        max_fields: int = 8,
        width: int | None = None,
        out: Callable[[str], None] = print,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self.min_interval_s = min_interval_s
        self.max_fields = max_fields
        self.width = width
        self.out = out
        self.wall = wall
        self._table = None
        self._start_doc: dict | None = None
        self._skipped: dict | None = None
        self._last = -math.inf

    def __call__(self, name: str, doc: dict) -> None:
        if name == "start":
            self._start_doc, self._table, self._last = doc, None, -math.inf
        elif name == "descriptor" and doc.get("name") == "primary" and self._start_doc:
            from bluesky.callbacks import LiveTable

            fields = self.fields_for(doc)
            if not fields:
                return
            self._table = LiveTable(fields, out=self.out, separator_lines=False)
            self._table("start", self._start_doc)
            self._table("descriptor", doc)
        elif name == "event" and self._table is not None:
            now = self.wall()
            if now - self._last >= self.min_interval_s:
                self._last, self._skipped = now, None
                self._table("event", doc)
            else:
                self._skipped = doc
        elif name == "stop" and self._table is not None:
            if self._skipped is not None:  # the last row is always shown
                self._table("event", self._skipped)
            self._table("stop", doc)
            self._table, self._skipped = None, None

    def fields_for(self, descriptor: dict) -> list[str]:
        """Hinted scalar fields of a descriptor, at most ``max_fields``."""
        keys = descriptor.get("data_keys", {})
        shown = [
            f for hint in (descriptor.get("hints") or {}).values() for f in hint.get("fields", [])
        ]
        if not shown:
            shown = [k for k, v in keys.items() if v.get("dtype") in ("number", "integer")]
        ok = [
            f
            for f in shown
            if f in keys
            and keys[f].get("shape") in ([], None)
            and keys[f].get("dtype") in ("number", "integer", "boolean", "string")
        ]
        ok = ok[: self.max_fields]
        # what fits the terminal: seq_num and time take 24 columns, a field max(12, len + 2)
        width = self.width or shutil.get_terminal_size((100, 24)).columns
        used, fitted = 25, []
        for f in ok:
            used += max(12, len(f) + 2) + 1
            if used > width and fitted:
                break
            fitted.append(f)
        return fitted


def live_plots():
    """bluesky's ``BestEffortCallback`` (plots only; the table is ``HintedLiveTable``)
    when a display exists and matplotlib is installed, else ``None``."""
    if not has_display():
        return None
    try:
        from bluesky.callbacks.best_effort import BestEffortCallback
    except ImportError:
        return None
    bec = BestEffortCallback()
    bec.disable_table()
    bec.disable_baseline()
    return bec
