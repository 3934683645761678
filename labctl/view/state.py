"""What the live page shows, kept from a run's documents (a bluesky ``DocumentRouter``).

The RunEngine's thread (or a 0MQ dispatcher's) feeds documents: each costs a few
appends under a lock, so a slow browser never slows the run.  The page's sessions read
:meth:`LiveState.updates` at their own pace, each from where it left off.  Times are
bench-clock reading timestamps in s since the run's first reading, never wall time, so a
lockstep simulation shows the experiment's own minutes.  Traces are decimated for
display (at most ``max_points`` each); the store keeps every point.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

from event_model import DocumentRouter

from labctl.protocol.progress import expected_remaining_s, fmt_duration

__all__ = ["LiveState", "Trace", "TraceGroup", "PHASE_NAMES"]

#: phase codes of ``labctl.plans.state.PHASES``
PHASE_NAMES = {
    0: "equilibrate",
    1: "baseline",
    2: "ramp",
    3: "hold",
    4: "heat",
    5: "cool",
    6: "done",
}

#: keys of the start document shown as the study context, with their labels
CONTEXT_KEYS = (
    ("study", "study"),
    ("subject", "subject"),
    ("animal_id", "animal"),
    ("session", "session"),
    ("time_post_injection_h", "post injection (h)"),
    ("sample_id", "sample"),
    ("operator", "operator"),
)


class Trace:
    """One displayed series: times (s) and values, at most ``max_points``.

    Past ``max_points`` every other point is dropped and only every ``stride``-th new
    point kept; ``generation`` counts these decimations so readers know to reload.
    """

    def __init__(self, max_points: int = 4000) -> None:
        self.max_points = max_points
        self.t: list[float] = []
        self.y: list[float] = []
        self.stride = 1
        self.generation = 0
        self._since_kept = 0

    def add(self, t_s: float, value: float) -> None:
        self._since_kept += 1
        if self.t and self._since_kept < self.stride:
            return
        self._since_kept = 0
        self.t.append(t_s)
        self.y.append(value)
        if len(self.t) > self.max_points:
            self.t, self.y = self.t[::2], self.y[::2]
            self.stride *= 2
            self.generation += 1


@dataclass
class TraceGroup:
    """One plot: a title, the y-axis label (with units) and its traces ``(name, label)``."""

    title: str
    y_label: str
    traces: list[tuple[str, str]] = field(default_factory=list)


class LiveState(DocumentRouter):
    """A run's state for the page, fed by documents (see the module docstring).

    ``path_provider``: returns the run's store path (the bench writer's), or None.
    ``max_points``: display points per trace.
    """

    def __init__(self, *, path_provider=None, max_points: int = 4000) -> None:
        super().__init__()
        self.path_provider = path_provider
        self.max_points = max_points
        self.lock = threading.RLock()
        self.version = 0  #: bumped by every document
        self._reset({})

    # -- documents (the feeding thread) -------------------------------------------------
    def _reset(self, start: dict) -> None:
        self.start_doc = start
        self.uid: str | None = start.get("uid")
        self.status = "running" if start else "waiting for a run"
        self.reason = ""
        self.streams: dict[str, str] = {}
        self.units: dict[str, str] = {}
        self.groups: list[TraceGroup] = []
        self.traces: dict[str, Trace] = {}
        self.latest: dict[str, tuple[float, str]] = {}
        self.temperature_keys: list[str] = []
        self.pairs: list[tuple[str, str]] = []  # (commanded, read back)
        self.roles: dict[str, str] = {}  # temperature key -> role
        self.setpoint_key = self.cem_key = self.phase_key = None
        self.limits_C: dict[str, float] = dict(
            (start.get("safety_monitor") or {}).get("temperature_max_C") or {}
        )
        self.trip = ""
        self.t0: float | None = None
        self.elapsed_s = 0.0
        self.phase: str | None = None
        self.reached_at: float | None = None
        self.events = 0
        self.path = None

    def start(self, doc):
        with self.lock:
            self._reset(doc)
            self.path = self.path_provider() if self.path_provider else None
            self.version += 1
        return doc

    def descriptor(self, doc):
        with self.lock:
            name = doc.get("name", "primary")
            self.streams[doc["uid"]] = name
            for key, info in doc.get("data_keys", {}).items():
                self.units[key] = info.get("units") or ""
            if name == "primary":
                self._layout(doc.get("data_keys", {}))
            self.version += 1
        return doc

    def event(self, doc):
        with self.lock:
            stream = self.streams.get(doc["descriptor"])
            if stream == "primary":
                self._primary(doc["data"], doc.get("timestamps", {}), float(doc["time"]))
            elif stream == "safety":
                self.trip = str(doc["data"].get("safety_message", "safety trip"))
            self.version += 1
        return doc

    def event_page(self, doc):
        for event in self._unpack(doc):
            self.event(event)
        return doc

    @staticmethod
    def _unpack(page):
        from event_model import unpack_event_page

        return unpack_event_page(page)

    def stop(self, doc):
        with self.lock:
            if doc.get("run_start") == self.uid:
                self.status = doc.get("exit_status", "?")
                self.reason = doc.get("reason", "")
                if self.path_provider and self.path is None:
                    self.path = self.path_provider()
                self.version += 1
        return doc

    def set_status(self, status: str) -> None:
        """``paused``, ``running``... as told by the controls."""
        with self.lock:
            if self.status in ("running", "paused", "aborting"):
                self.status = status
                self.version += 1

    # -- layout ---------------------------------------------------------------------------
    def _layout(self, keys: dict) -> None:
        scalar = {k: v for k, v in keys.items() if v.get("shape") in ([], None)}
        self.temperature_keys = [
            k
            for k, v in scalar.items()
            if v.get("units") == "degC" and not k.endswith("_setpoint") and "tec" not in k
        ]
        self.roles = {k: k.rsplit("_", 1)[-1] for k in self.temperature_keys}
        self.setpoint_key = next(
            (k for k, v in scalar.items() if k.endswith("_setpoint") and v.get("units") == "degC"),
            None,
        )
        self.cem_key = next((k for k in scalar if k.endswith("_cem43")), None)
        self.phase_key = next(
            (k for k, v in scalar.items() if k.endswith("_phase") and v.get("dtype") == "integer"),
            None,
        )
        self.pairs = [
            (k, k[: -len("_setpoint")])
            for k, v in scalar.items()
            if k.endswith("_setpoint")
            and v.get("units") not in ("degC", None, "")
            and k[: -len("_setpoint")] in scalar
        ]
        self.groups = self._groups()
        names = [n for g in self.groups for n, _ in g.traces]
        self.traces = {n: Trace(self.max_points) for n in names}

    def _groups(self) -> list[TraceGroup]:
        temps = TraceGroup("Temperatures", "temperature (°C)")
        temps.traces = [(k, self.roles[k]) for k in self.temperature_keys]
        if self.setpoint_key:
            temps.traces.append((self.setpoint_key, "setpoint"))
        if isinstance(self.start_doc.get("target_C"), int | float):
            temps.traces.append(("target", "target"))
        shown = set(self.roles.values())
        temps.traces += [(f"limit_{r}", f"{r} limit") for r in self.limits_C if r in shown]
        groups = [temps]
        for commanded, readback in self.pairs:
            quantity = readback.split("_", 1)[-1].replace("_", " ")
            device = readback.split("_", 1)[0]
            units = self.units.get(readback, "")
            group = TraceGroup(f"{device} {quantity}", f"{quantity} ({units})")
            group.traces = [(commanded, "commanded"), (readback, "read back")]
            groups.append(group)
        if self.cem_key:
            groups.append(TraceGroup("Thermal dose", "CEM43 (min)", [(self.cem_key, "CEM43")]))
        return groups

    def _primary(self, data: dict, timestamps: dict, wall: float) -> None:
        key = self.temperature_keys[0] if self.temperature_keys else None
        t = float(timestamps.get(key, wall)) if key else wall
        if self.t0 is None:
            self.t0 = t
        self.elapsed_s = rel = t - self.t0
        self.events += 1
        for k, value in data.items():
            v = _number(value)
            if v is None:
                continue
            self.latest[k] = (v, self.units.get(k, ""))
            trace = self.traces.get(k)
            if trace is not None:
                trace.add(float(timestamps.get(k, t)) - self.t0, v)
        target = self.start_doc.get("target_C")
        if "target" in self.traces:
            self.traces["target"].add(rel, float(target))
        for role, limit in self.limits_C.items():
            if f"limit_{role}" in self.traces:
                self.traces[f"limit_{role}"].add(rel, float(limit))
        if self.phase_key in data:
            code = data[self.phase_key]
            self.phase = PHASE_NAMES.get(int(code), str(code))
        if self.reached_at is None and isinstance(target, int | float):
            controlled = self._controlled_key()
            if controlled and self.latest.get(controlled, (-math.inf,))[0] >= target:
                self.reached_at = rel

    def _controlled_key(self) -> str | None:
        channel = self.start_doc.get("control_channel")
        match = [k for k, r in self.roles.items() if r == channel]
        return (match or self.temperature_keys or [None])[0]

    # -- reading (the page's sessions) ----------------------------------------------------
    def updates(self, seen: dict[str, tuple[int, int]]) -> dict[str, tuple[bool, list, list]]:
        """New points of each trace since ``seen`` (name -> (generation, count), updated
        in place): name -> (replace everything?, times in min, values)."""
        out = {}
        with self.lock:
            for name, trace in self.traces.items():
                gen, n = seen.get(name, (-1, 0))
                if gen != trace.generation:
                    out[name] = (True, _minutes(trace.t), list(trace.y))
                elif n < len(trace.t):
                    out[name] = (False, _minutes(trace.t[n:]), trace.y[n:])
                seen[name] = (trace.generation, len(trace.t))
        return out

    def remaining(self) -> str:
        """Remaining plan time as text (``~`` for an estimate, ``--:--`` if unknown)."""
        with self.lock:
            key = self._controlled_key()
            T = self.latest.get(key, (math.nan,))[0] if key else math.nan
            cem = self.latest.get(self.cem_key, (0.0,))[0] if self.cem_key else 0.0
            left = expected_remaining_s(
                self.start_doc,
                self.elapsed_s,
                T,
                cem if math.isfinite(cem) else 0.0,
                self.reached_at,
            )
        if left is None or self.status != "running":
            return "--:--" if self.status == "running" else "0:00"
        return ("~" if left[1] else "") + fmt_duration(left[0])

    def margins(self) -> list[tuple[str, float, float]]:
        """Each guarded role: (role, latest C, margin to its limit in C)."""
        with self.lock:
            out = []
            for key, role in self.roles.items():
                if role in self.limits_C and key in self.latest:
                    value = self.latest[key][0]
                    out.append((role, value, self.limits_C[role] - value))
            return out

    def context(self) -> list[tuple[str, str]]:
        """The study context from the start document: (label, value)."""
        return [(label, str(self.start_doc[k])) for k, label in CONTEXT_KEYS if k in self.start_doc]


def _minutes(times: list[float]) -> list[float]:
    return [t / 60.0 for t in times]


def _number(value) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return None
