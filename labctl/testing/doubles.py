"""Test doubles for drivers, emulators and plans: a sample whose temperatures a test
sets, and a callback that keeps every document a RunEngine emits."""

from __future__ import annotations

import numpy as np

__all__ = ["TableSample", "DocumentCollector"]


class TableSample:
    """A sample model whose temperatures (C) the test sets directly, by position.

    ``rate_C_s`` warms the ``tumor`` position by that many C per second of clock time.
    It follows the sample-model interface of ``labctl.simulators.physics.sample``
    (``positions``, ``advance``, ``set_amf``, ``set_laser``, ``temperature``, ``truth``)
    but has no physics: heating commands are ignored.
    """

    def __init__(self, **temperatures: float) -> None:
        self.t_s = 0.0
        self.T = dict(temperatures)
        self.rate_C_s = 0.0

    @property
    def positions(self) -> tuple[str, ...]:
        return tuple(self.T)

    def advance(self, dt_s: float) -> None:
        self.t_s += dt_s
        if "tumor" in self.T:
            self.T["tumor"] += self.rate_C_s * dt_s

    def set_amf(self, frequency_Hz: float, field_A_m: float) -> None:
        pass

    def set_laser(self, power_W: float, wavelength_nm: float, spot_area_cm2: float) -> None:
        pass

    def temperature(self, position: str) -> float:
        return self.T[position]

    def truth(self) -> dict:
        return {}


class DocumentCollector:
    """A RunEngine callback keeping every ``(name, document)``, with helpers to pull
    out documents of one kind, the events of one stream and one column."""

    def __init__(self) -> None:
        self.docs: list[tuple[str, dict]] = []

    def __call__(self, name: str, doc: dict) -> None:
        self.docs.append((name, doc))

    def of(self, name: str) -> list[dict]:
        """Every document called ``name`` (``start``, ``event``, ``stop``...)."""
        return [d for n, d in self.docs if n == name]

    def stream(self, stream: str = "primary") -> list[dict]:
        """The events of one stream."""
        uids = {d["uid"] for d in self.of("descriptor") if d["name"] == stream}
        return [d for d in self.of("event") if d["descriptor"] in uids]

    def column(self, key: str, stream: str = "primary") -> tuple[np.ndarray, np.ndarray]:
        """``(timestamps, values)`` of one data key in one stream."""
        events = self.stream(stream)
        values = np.array([e["data"][key] for e in events])
        times = np.array([e["timestamps"][key] for e in events])
        return times, values
