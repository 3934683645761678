"""Shared pieces for the run-data tests: a RunEngine, signals that change on every
read, and a document collector."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest
from bluesky import Msg, RunEngine
from bluesky import preprocessors as bpp
from ophyd import Component as Cpt
from ophyd import Device, Signal


class Ramp(Signal):
    """A soft signal whose value and timestamp change at every read (``make(i)``)."""

    def __init__(self, *args, make=float, **kwargs):
        self._make = make
        self._count = itertools.count(1)
        super().__init__(*args, value=make(0), **kwargs)

    def get(self, **kwargs):
        i = next(self._count)
        self._readback = self._make(i)
        self._metadata["timestamp"] = time.time() - 1e-3 * (i % 7)
        return self._readback


def _analog(i: int) -> float:
    return math.nan if i % 97 == 0 else 20.0 + 0.01 * i


class Five(Device):
    """Five scalar signals of different kinds, read together (one ophyd object)."""

    temp = Cpt(Ramp, make=_analog, kind="hinted")
    count = Cpt(Ramp, make=int)
    on = Cpt(Ramp, make=lambda i: bool(i % 2))
    state = Cpt(Ramp, make=lambda i: f"state-{i % 5}")
    power = Cpt(Ramp, make=lambda i: math.sin(i / 10.0))


class Imager(Device):
    """A small 2-D array signal and a 1-D spectrum, in-line in the events."""

    image = Cpt(Ramp, make=lambda i: np.arange(48, dtype=np.uint16).reshape(8, 6) + i)
    spectrum = Cpt(Ramp, make=lambda i: np.linspace(0, 1, 5) * i)


class Docs:
    """A second subscriber: every document the RunEngine emitted, in order."""

    def __init__(self):
        self.all: list[tuple[str, dict]] = []

    def __call__(self, name, doc):
        self.all.append((name, doc))

    def of(self, name):
        return [d for n, d in self.all if n == name]


def read_plan(det, n, *, stream="primary", md=None, sleep=None):
    """A lean step plan: create/read/save per event (bluesky's cheapest event loop)."""

    @bpp.run_decorator(md={"plan_name": "read_plan", **(md or {})})
    def inner():
        for _ in range(n):
            yield Msg("create", name=stream)
            yield Msg("read", det)
            yield Msg("save")
            if sleep:
                yield Msg("sleep", None, sleep)

    return (yield from inner())


@pytest.fixture
def RE():
    return RunEngine({}, context_managers=[])


@pytest.fixture
def docs():
    return Docs()
