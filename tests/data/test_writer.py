"""RunWriter: stores read back exactly as the RunEngine emitted them."""

from __future__ import annotations

import json
import math
import threading
import time

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import event_model
import numpy as np
import pytest
import xarray as xr
import zarr
from bluesky import Msg
from bluesky.utils import RunEngineInterrupted
from event_model import DocumentNames, schema_validators
from zarr.core.buffer import default_buffer_prototype
from zarr.core.metadata.v3 import ArrayV3Metadata

from labctl.data import RunWriter, read_run
from labctl.data import writer as writer_module
from labctl.data.journal import is_ref, read_journal
from tests.data.conftest import Five, Imager, read_plan


def _same(a, b) -> bool:
    """Equal values, NaN equal to NaN."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        return bool(np.array_equal(a.astype(float), b.astype(float), equal_nan=True))
    return bool(np.array_equal(a, b))


def check_stream(run, docs, stream="primary"):
    """The stored stream equals the emitted events: values, timestamps, seq_num, time."""
    descs = {
        d["uid"] for d in docs.of("descriptor") if d["name"] == stream and d["run_start"] == run.uid
    }
    events = [e for e in docs.of("event") if e["descriptor"] in descs]
    ds, ts = run.stream(stream), run.timestamps(stream)
    assert ds.sizes["time"] == len(events)
    assert ds["seq_num"].values.tolist() == [e["seq_num"] for e in events]
    assert ds["time"].values.tolist() == [e["time"] for e in events]
    for key in events[0]["data"]:
        emitted = [e["data"][key] for e in events]
        stored = ds[key].values
        if isinstance(emitted[0], str):
            assert stored.tolist() == emitted, key
        else:
            assert _same(stored, np.asarray(emitted)), key
            assert stored.dtype == np.asarray(emitted).dtype, key
        assert ts[key].values.tolist() == [e["timestamps"][key] for e in events], key
    return ds


@pytest.mark.slow
def test_10000_events_of_five_signals_read_back_exactly(RE, docs, tmp_path):
    writer = RunWriter(tmp_path)
    RE.subscribe(writer)
    RE.subscribe(docs)
    RE(read_plan(Five(name="five"), 10_000, md={"sample": {"name": "mouse-3"}}))
    run = read_run(writer.last_path)
    (start,) = docs.of("start")
    (stop,) = docs.of("stop")
    assert run.uid == start["uid"]
    assert run.start == json.loads(json.dumps(start))
    assert run.stop == stop and run.stop["num_events"] == {"primary": 10_000}
    ds = check_stream(run, docs)
    assert math.isnan(ds["five_temp"].values[96])  # NaN every 97th read
    assert ds["five_on"].dtype == bool and ds["five_count"].dtype == np.int64
    desc = docs.of("descriptor")[0]
    for key, info in desc["data_keys"].items():
        attrs = ds[key].attrs
        assert (attrs["units"] if "units" in info else None) == info.get("units")
        assert attrs["source"] == info["source"] and attrs["dtype"] == info["dtype"]
    assert run.descriptors("primary") == [json.loads(json.dumps(desc))]
    # the path follows <data_dir>/<date>/<scan_id>_<plan>_<uid8>.zarr
    path = writer.last_path
    assert path.parent.parent == tmp_path and len(path.parent.name) == 10
    assert path.name == f"{start['scan_id']}_read_plan_{start['uid'][:8]}.zarr"


def test_nan_strings_bools_and_integers_round_trip(RE, docs, tmp_path):
    writer = RunWriter(tmp_path)
    RE.subscribe(writer)
    RE.subscribe(docs)
    RE(read_plan(Five(name="five"), 200))
    ds = check_stream(read_run(writer.last_path), docs)
    assert np.isnan(ds["five_temp"].values[[96, 193]]).all()
    assert ds["five_state"].values[:2].tolist() == ["state-1", "state-2"]
    assert ds["five_on"].dtype == bool and ds["five_count"].dtype == np.int64


def test_plain_xarray_opens_each_stream(RE, docs, tmp_path):
    writer = RunWriter(tmp_path)
    RE.subscribe(writer)
    RE.subscribe(docs)
    five, img = Five(name="five"), Imager(name="img")

    def plan():
        yield from bps.open_run(md={"plan_name": "two_streams"})
        for _ in range(5):
            yield from bps.trigger_and_read([five], name="primary")
        for _ in range(3):
            yield from bps.trigger_and_read([img], name="camera")  # appears mid-run
        yield from bps.trigger_and_read([five], name="primary")
        yield from bps.close_run()

    RE(plan())
    path = writer.last_path
    prim = xr.open_zarr(path, group="primary")  # consolidated at the end: no labctl needed
    cam = xr.open_zarr(path, group="camera")
    assert prim.sizes == {"time": 6}
    assert cam["img_image"].dims == ("time", "img_image_dim_1", "img_image_dim_2")
    assert cam["img_spectrum"].dims == ("time", "img_spectrum_dim_1")
    assert "timestamps" not in prim.variables
    emitted = [e["data"]["img_image"] for e in docs.of("event") if "img_image" in e["data"]]
    assert np.array_equal(cam["img_image"].values, np.stack(emitted))
    assert zarr.open_group(path, mode="r")["camera/timestamps/img_image"].shape == (3,)
    for meta in path.rglob("zarr.json"):  # a finished run's metadata is zarr's own form
        doc = json.loads(meta.read_bytes())
        if doc["node_type"] == "array":
            exact = ArrayV3Metadata.from_dict(doc).to_buffer_dict(default_buffer_prototype())
            assert meta.read_bytes() == exact["zarr.json"].to_bytes(), meta
    run = read_run(path)
    assert sorted(run.streams) == ["camera", "primary"]
    check_stream(run, docs, "camera")
    check_stream(run, docs, "primary")


def test_journal_has_every_document_valid_and_arrays_by_reference(RE, docs, tmp_path):
    writer = RunWriter(tmp_path)
    RE.subscribe(writer)
    RE.subscribe(docs)
    RE(bp.count([Five(name="five"), Imager(name="img")], 4))
    journal = list(read_journal(writer.last_path / "journal.jsonl", strict=True))
    assert [n for n, _ in journal] == [n for n, _ in docs.all]
    for name, doc in journal:
        schema_validators[DocumentNames[name]].validate(doc)
    events = [d for n, d in journal if n == "event"]
    assert [is_ref(e["data"]["img_image"]) for e in events] == [True] * 4
    assert [e["data"]["img_image"]["row"] for e in events] == [0, 1, 2, 3]
    assert isinstance(events[0]["data"]["img_spectrum"], list)  # 5 values: inline
    assert events[2]["data"]["five_state"] == docs.of("event")[2]["data"]["five_state"]


def test_failed_and_aborted_runs_keep_data_and_exit_status(RE, docs, tmp_path):
    writer = RunWriter(tmp_path)
    RE.subscribe(writer)
    RE.subscribe(docs)
    five = Five(name="five")

    def failing():
        yield from bps.open_run()
        yield from bps.trigger_and_read([five])
        raise RuntimeError("coil overheated")

    with pytest.raises(RuntimeError):
        RE(failing())
    failed = read_run(writer.last_path)
    assert failed.stop["exit_status"] == "fail" and "coil" in failed.stop["reason"]
    assert failed.stream().sizes["time"] == 1

    def pausing():
        yield from bps.open_run()
        for _ in range(3):
            yield from bps.trigger_and_read([five])
        yield Msg("pause")
        yield from bps.trigger_and_read([five])
        yield from bps.close_run()

    with pytest.raises(RunEngineInterrupted):
        RE(pausing())
    RE.abort("operator")
    aborted = read_run(writer.last_path)
    assert aborted.stop["exit_status"] == "abort"
    check_stream(aborted, docs)
    assert writer.current_path is None


def test_several_descriptors_in_one_stream_and_configuration(tmp_path):
    """A second descriptor of the same stream adds a key; rows without it get fill."""
    writer = RunWriter(tmp_path, background=False)
    bundle = event_model.compose_run(metadata={"plan_name": "manual"})
    writer("start", bundle.start_doc)
    conf = {
        "cam": {
            "data": {"cam_gain": 2.5},
            "timestamps": {"cam_gain": 1.0},
            "data_keys": {"cam_gain": {"source": "x", "dtype": "number", "shape": []}},
        }
    }
    keys = {"t": {"source": "probe", "dtype": "number", "shape": [], "units": "degC"}}
    d1 = bundle.compose_descriptor(name="primary", data_keys=keys, configuration=conf)
    writer("descriptor", d1.descriptor_doc)
    for i in range(3):
        writer("event", d1.compose_event(data={"t": 1.0 * i}, timestamps={"t": 10.0 + i}))
    # event-model refuses a second descriptor with other keys in one stream; other
    # producers may send one, so build it by hand
    keys2 = {**keys, "flag": {"source": "dio", "dtype": "boolean", "shape": []}}
    d2 = {**d1.descriptor_doc, "uid": "d2-uid", "data_keys": keys2, "configuration": {}}
    writer("descriptor", d2)
    writer(
        "event",
        {
            "uid": "e4",
            "descriptor": "d2-uid",
            "seq_num": 4,
            "time": 23.0,
            "data": {"t": 9.0, "flag": True},
            "timestamps": {"t": 20.0, "flag": 21.0},
            "filled": {},
        },
    )
    writer("event", d1.compose_event(data={"t": 4.0}, timestamps={"t": 22.0}))
    writer("stop", bundle.compose_stop())
    run = read_run(writer.last_path)
    ds = run.stream()
    assert ds["t"].values.tolist() == [0.0, 1.0, 2.0, 9.0, 4.0]
    assert ds["flag"].values.tolist() == [False, False, False, True, False]
    assert ds["t"].attrs["units"] == "degC"
    descs = run.descriptors("primary")
    assert len(descs) == 2 and descs[0]["configuration"]["cam"]["data"]["cam_gain"] == 2.5
    rows = zarr.open_group(writer.last_path, mode="r")["primary"].attrs["labctl"]
    assert rows["descriptor_rows"] == [
        [d1.descriptor_doc["uid"], 0],
        ["d2-uid", 3],
        [d1.descriptor_doc["uid"], 4],
    ]


def test_writes_whole_chunks_not_one_write_per_event(RE, tmp_path, monkeypatch):
    calls = []
    real = writer_module.write_columns
    monkeypatch.setattr(
        writer_module, "write_columns", lambda *a, **k: (calls.append(1), real(*a, **k))[1]
    )
    writer = RunWriter(tmp_path, flush_interval_s=60.0)
    RE.subscribe(writer)
    RE(read_plan(Five(name="five"), 500))
    assert len(calls) <= 2  # the final flush (a slow machine may add one timed flush)
    assert read_run(writer.last_path).stream().sizes["time"] == 500


def test_a_busy_run_is_flushed_by_the_runengine_thread(RE, tmp_path, monkeypatch):
    """While documents flow, flushes run inline (no flush thread competing for the GIL)
    and rows reach the disk while the run goes on."""
    writer = RunWriter(tmp_path, flush_interval_s=0.05, background=False)
    threads, lags = [], []
    real = writer.flush

    def flush():
        threads.append(threading.current_thread().name)
        real()

    monkeypatch.setattr(writer, "flush", flush)
    RE.subscribe(writer)
    five = Five(name="five")

    def plan():
        yield from bps.open_run()
        t0 = time.monotonic()
        for i in range(100_000):
            yield from bps.trigger_and_read([five])
            if i % 50 == 49:
                arr = zarr.open_array(writer.current_path, path="primary/seq_num", mode="r")
                lags.append((i + 1, arr.shape[0]))
            if time.monotonic() - t0 > 0.6 and len(threads) >= 3 and lags:
                break
        yield from bps.close_run()

    RE(plan())
    assert len(threads) >= 3 and "labctl-run-writer" not in threads
    emitted, on_disk = lags[-1]
    assert 0 < on_disk <= emitted  # rows reach the disk during the run, not only at the end


def test_a_quiet_run_is_flushed_by_the_timer(RE, tmp_path):
    """Events written before a long sleep are on disk during the sleep."""
    writer = RunWriter(tmp_path, flush_interval_s=0.1)
    RE.subscribe(writer)
    seen, five = [], Five(name="five")

    def plan():
        yield from bps.open_run()
        for _ in range(7):
            yield from bps.trigger_and_read([five])
        yield from bps.sleep(0.6)  # no documents: only the timer thread can flush
        seen.append(zarr.open_array(writer.current_path, path="primary/five_temp", mode="r").shape)
        yield from bps.close_run()

    RE(plan())
    assert seen == [(7,)]


def test_on_run_start_hook_and_paths(RE, tmp_path):
    started = []
    writer = RunWriter(tmp_path, on_run_start=started.append)
    RE.subscribe(writer)
    RE(bp.count([Five(name="five")], 2))
    RE(bp.count([Five(name="five")], 2))
    assert len(started) == 2 and started[1] == writer.last_path != started[0]
    assert all(p.exists() and (p / "journal.jsonl").exists() for p in started)


class PageCollectable:
    """Produces one event page of two scalar keys per collect (bluesky's collect path)."""

    name, parent = "det", None

    def describe_collect(self):
        return {k: {"source": "pv", "dtype": "number", "shape": []} for k in ("det-a", "det-b")}

    def collect_pages(self):
        yield {
            "data": {"det-a": [1.5, 2.5], "det-b": [3.0, math.nan]},
            "timestamps": {"det-a": [10.0, 11.0], "det-b": [12.0, 13.0]},
            "time": [100.0, 101.0],
        }


def test_event_pages_become_rows_and_are_journaled(RE, docs, tmp_path):
    writer = RunWriter(tmp_path)
    RE.subscribe(writer)
    RE.subscribe(docs)
    det = PageCollectable()

    def plan():
        yield from bps.open_run()
        yield from bps.declare_stream(det, name="fast", collect=True)
        yield from bps.collect(det, name="fast")
        yield from bps.collect(det, name="fast")
        yield from bps.close_run()

    RE(plan())
    run = read_run(writer.last_path)
    ds = run.stream("fast")
    assert ds["det-a"].values.tolist() == [1.5, 2.5, 1.5, 2.5]
    assert ds["time"].values.tolist() == [t for p in docs.of("event_page") for t in p["time"]]
    assert ds["seq_num"].values.tolist() == [1, 2, 3, 4]
    assert run.timestamps("fast")["det-b"].values.tolist() == [12.0, 13.0, 12.0, 13.0]
    journal = list(read_journal(writer.last_path / "journal.jsonl", strict=True))
    assert [n for n, _ in journal].count("event_page") == 2
    for name, doc in journal:
        schema_validators[DocumentNames[name]].validate(doc)
