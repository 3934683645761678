"""Document times on the bench clock: store, journal and readings agree."""

from __future__ import annotations

import time

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
import xarray as xr
from bluesky import RunEngine
from ophyd.sim import SynSignal

from labctl.core.clock import SimClock, install_sleep_handler
from labctl.data import RunWriter, read_run
from labctl.data.bench_time import BenchTimeStamper, stamp_with_clock
from labctl.data.journal import read_journal


class ClockSignal(SynSignal):
    """A signal whose readings are stamped by ``clock`` (as labctl devices are)."""

    def __init__(self, clock, **kw):
        self._clock = clock
        super().__init__(func=lambda: clock.elapsed, **kw)

    def trigger(self):
        st = super().trigger()
        self._metadata["timestamp"] = self._clock.now()
        return st


def _run(tmp_path, *, stamped: bool):
    clock = SimClock("lockstep", start=1.0e9)
    RE = RunEngine({}, call_returns_result=True)
    install_sleep_handler(RE, clock)
    if stamped:
        stamp_with_clock(RE, clock)
    docs = []
    writer = RunWriter(tmp_path)
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    RE.subscribe(writer)
    sig = ClockSignal(clock, name="elapsed")

    @bpp.run_decorator()
    def plan():
        for _ in range(4):
            yield from bps.sleep(600.0)
            yield from bps.trigger_and_read([sig])

    RE(plan())
    return clock, docs, writer.last_path


def test_thirty_simulated_minutes_span_thirty_minutes_in_every_store_axis(tmp_path):
    clock, docs, path = _run(tmp_path, stamped=True)
    starts = [d for n, d in docs if n == "start"]
    stops = [d for n, d in docs if n == "stop"]
    assert starts[0]["time"] == 1.0e9
    assert stops[-1]["time"] == 1.0e9 + 2400.0
    assert abs(starts[0]["wall_time"] - time.time()) < 600.0
    primary = xr.open_zarr(path, group="primary")
    assert primary["time"].values.tolist() == [1.0e9 + 600.0 * k for k in (1, 2, 3, 4)]
    # each event's time is its reading's time on the bench clock
    for name, doc in docs:
        if name == "event":
            assert doc["time"] == doc["timestamps"]["elapsed"]
    # journal and store agree
    journal = [d for n, d in read_journal(path / "journal.jsonl") if n == "event"]
    assert [d["time"] for d in journal] == primary["time"].values.tolist()
    run = read_run(path)
    assert run.start["time"] == 1.0e9
    assert run.stop["time"] == 1.0e9 + 2400.0


def test_without_the_stamper_documents_keep_wall_time(tmp_path):
    _, docs, _ = _run(tmp_path, stamped=False)
    times = np.array([d["time"] for _, d in docs if "time" in d])
    assert np.all(np.abs(times - time.time()) < 600.0)


def test_event_pages_get_one_bench_time_per_event_and_timeless_documents_pass():
    clock = SimClock("lockstep", start=50.0)
    stamp = BenchTimeStamper(clock)
    clock.advance(5.0)
    page = stamp("event_page", {"time": [1.0, 2.0], "seq_num": [1, 2]})
    assert page["time"] == [55.0, 55.0]
    datum = {"datum_id": "x", "resource": "r"}
    assert stamp("datum", datum) is datum
