"""What a report needs from a run store, as numpy arrays on the bench clock.

Times are reading timestamps (bench-clock epoch seconds; in a lockstep simulation the
event ``time`` is wall time and compressed, the readings' timestamps are not), shown
relative to ``t0``, the first reading of the run's ``primary`` stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from labctl.report.summary import analysis_values

__all__ = ["RunData", "Series", "CALORIMETRY_PLANS"]

#: plans that measure a sample's heating, not a therapy (no CEM43 figure)
CALORIMETRY_PLANS = ("sar_measurement", "photothermal_conversion")


@dataclass
class Series:
    """One scalar data key: clock times (s, absolute), values, units."""

    key: str
    t: np.ndarray
    values: np.ndarray
    units: str = ""

    def rel(self, t0: float) -> np.ndarray:
        return self.t - t0


@dataclass
class RunData:
    """The scalar series of a run's ``primary`` stream plus its documents and results."""

    run: Any
    start: dict = field(init=False)
    keys: dict[str, dict] = field(init=False)

    def __post_init__(self) -> None:
        self.start = self.run.start
        self.keys = {}
        if "primary" in self.run.streams:
            for d in self.run.descriptors("primary"):
                self.keys.update(d["data_keys"])

    @cached_property
    def _primary(self):
        if "primary" not in self.run.streams:
            return None, None
        ds = self.run.stream("primary")
        if "time" not in ds.dims or ds.sizes["time"] == 0:
            return None, None
        return ds, self.run.timestamps("primary")

    def series(self, key: str) -> Series | None:
        """A scalar key of ``primary`` (``None`` if absent or not a number)."""
        ds, ts = self._primary
        if ds is None or key not in ds.variables or ds[key].ndim != 1:
            return None
        values = ds[key].values
        if values.dtype.kind not in "fiub":
            return None
        t = ts[key].values if key in ts.variables else ds["time"].values
        return Series(
            key,
            np.asarray(t, float),
            np.asarray(values, float),
            self.keys.get(key, {}).get("units") or "",
        )

    @cached_property
    def t0(self) -> float:
        """Time of the first reading of the run, s (epoch)."""
        firsts = [
            s.t[0] for k in self.thermometer_keys if (s := self.series(k)) is not None and s.t.size
        ]
        if not firsts:
            ds, _ = self._primary
            return float(ds["time"].values[0]) if ds is not None else 0.0
        return float(min(firsts))

    @cached_property
    def thermometer_keys(self) -> list[str]:
        """Keys of thermometer channels: degC scalars with a ``<key>_status`` sibling
        (else every degC scalar except setpoints and laser TEC temperatures)."""
        temps = [
            k
            for k, v in self.keys.items()
            if v.get("units") == "degC" and not v.get("shape") and v.get("dtype") == "number"
        ]
        with_status = [k for k in temps if f"{k}_status" in self.keys]
        return with_status or [k for k in temps if not k.endswith("setpoint") and "tec" not in k]

    def role(self, key: str) -> str:
        """The role part of a channel key (``thermo_tumor`` -> ``tumor``)."""
        obj = self.keys.get(key, {}).get("object_name")
        if obj and key.startswith(obj + "_"):
            return key[len(obj) + 1 :]
        return key

    @cached_property
    def control_key(self) -> str | None:
        """The controlled (or measured) channel, from ``control_channel`` or ``channel``."""
        channel = self.start.get("control_channel") or (self.start.get("plan_args") or {}).get(
            "channel"
        )
        for k in self.thermometer_keys:
            if channel and self.role(k) == channel:
                return k
        return self.thermometer_keys[0] if self.thermometer_keys else None

    def key_ending(self, suffix: str, units: str | None = None) -> str | None:
        for k, v in self.keys.items():
            if k.endswith(suffix) and (units is None or v.get("units") == units):
                return k
        return None

    @cached_property
    def analysis(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return analysis_values(self.run)

    def result(self, suffix: str) -> float:
        """An analysis value by key suffix (``t_on`` -> ``sar_t_on``), NaN if absent."""
        values, _ = self.analysis
        for k, v in values.items():
            if k == suffix or k.endswith("_" + suffix):
                try:
                    return float(v)
                except (TypeError, ValueError):
                    return math.nan
        return math.nan

    @cached_property
    def temperature_limits(self) -> dict[str, float]:
        """Maximum temperature per role recorded in the run (safety monitor settings)."""
        sm = self.start.get("safety_monitor") or {}
        limits = dict(sm.get("temperature_max_C") or {})
        limits.update((self.start.get("safety") or {}).get("temperature_max_C") or {})
        return {k: float(v) for k, v in limits.items() if isinstance(v, int | float)}

    def energized_intervals(self) -> list[tuple[str, float, float]]:
        """(label, t_on, t_off) absolute clock times when a field or laser was on."""
        out = []
        for key, label in (
            (self.key_ending("_output"), "field on"),
            (self.key_ending("_emission"), "laser on"),
        ):
            s = self.series(key) if key else None
            if s is None or s.values.size == 0:
                continue
            on = s.values > 0.5
            edges = np.flatnonzero(np.diff(np.concatenate(([0], on.astype(int), [0]))))
            for i0, i1 in zip(edges[::2], edges[1::2], strict=True):
                t1 = s.t[i1] if i1 < s.t.size else s.t[-1]
                out.append((label, float(s.t[i0]), float(t1)))
        return out

    def command_edges(self) -> tuple[float, float]:
        """Clock times the plan switched its output on (command > 0) and back off, from
        the timestamps of ``control_command`` (set when the plan decided): NaN if none."""
        key = self.key_ending("_command")
        s = self.series(key) if key else None
        ds, ts = self._primary
        if s is None:
            return math.nan, math.nan
        on = np.flatnonzero(s.values > 0)
        if on.size == 0:
            return math.nan, math.nan
        t_on = float(s.t[on[0]])
        after = np.flatnonzero((s.values == 0) & (np.arange(s.values.size) > on[0]))
        t_off = float(s.t[after[0]]) if after.size else math.nan
        return t_on, t_off

    @cached_property
    def trips(self) -> list[tuple[float, str]]:
        """Safety trips recorded in a ``safety`` stream: (clock time, message)."""
        if "safety" not in self.run.streams:
            return []
        ds = self.run.stream("safety")
        if "time" not in ds.dims:
            return []
        msg_key = next((k for k in ds.data_vars if k.endswith("_message")), None)
        t_key = next((k for k in ds.data_vars if k.endswith("_trip_time")), None)
        out = []
        for i in range(ds.sizes["time"]):
            t = float(ds[t_key].values[i]) if t_key else float(ds["time"].values[i])
            msg = str(ds[msg_key].values[i]) if msg_key else "safety trip"
            out.append((t, msg))
        return out

    def image_keys(self) -> list[tuple[str, str, tuple]]:
        """(stream, key, per-event shape) of every array of 2 or more dimensions."""
        out = []
        for stream in self.run.streams:
            for d in self.run.descriptors(stream):
                for k, v in d["data_keys"].items():
                    shape = tuple(v.get("shape") or ())
                    if len(shape) >= 2 and (stream, k, shape) not in out:
                        out.append((stream, k, shape))
        return out
