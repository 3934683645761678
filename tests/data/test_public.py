"""The public-zarr-API path: what a zarr outside the tested series gets (forced here)."""

from __future__ import annotations

import json
import logging

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import numpy as np
import pytest
import xarray as xr
import zarr

from labctl.data import FrameWriter, RunWriter, _public, read_run, recover
from labctl.data import _store as store_module
from labctl.data._store import _PADDED, ColumnArray, create_columns, run_sync, write_columns
from tests.data.conftest import Five, Imager, read_plan
from tests.data.test_frames import FakeCamera, fly, make_frame
from tests.data.test_writer import check_stream


@pytest.fixture(autouse=True)
def public_api(monkeypatch):
    """Every write of the test goes through ``_public`` (as with an untested zarr)."""
    monkeypatch.setattr(store_module, "FAST_PATH", False)
    calls = []
    real = _public.write

    async def counted(root, items):
        calls.append(len(items))
        await real(root, items)

    monkeypatch.setattr(_public, "write", counted)
    return calls


def _no_padding(path):
    for meta in path.rglob("zarr.json"):
        assert not _PADDED.search(meta.read_bytes()), meta


def test_untested_zarr_series_selects_the_public_api_and_says_so(monkeypatch, caplog):
    assert store_module.zarr_series("3.1.6") == (3, 1)
    assert store_module.zarr_series("3.0.10") == (3, 0)
    assert store_module.zarr_series("4.0.0a1") == (4, 0)
    monkeypatch.setattr(zarr, "__version__", "3.0.10")
    with caplog.at_level(logging.WARNING, logger="labctl.data._store"):
        assert store_module._choose_fast_path() is False
    assert "3.0.10" in caplog.text and "public API" in caplog.text
    caplog.clear()
    monkeypatch.setattr(zarr, "__version__", "{}.{}.9".format(*store_module.TESTED_ZARR))
    monkeypatch.setattr(store_module, "_zarr_sync", lambda coro: coro)  # internals present
    with caplog.at_level(logging.WARNING, logger="labctl.data._store"):
        assert store_module._choose_fast_path() is True
    assert caplog.text == ""
    monkeypatch.setattr(store_module, "_zarr_sync", None)  # internals gone
    assert store_module._choose_fast_path() is False


def test_scalars_strings_and_arrays_round_trip(RE, docs, tmp_path, public_api):
    writer = RunWriter(tmp_path)
    RE.subscribe(writer)
    RE.subscribe(docs)
    five, img = Five(name="five"), Imager(name="img")

    def plan():
        yield from bps.open_run(md={"plan_name": "two_streams"})
        for _ in range(300):
            yield from bps.trigger_and_read([five], name="primary")
        for _ in range(7):
            yield from bps.trigger_and_read([img], name="camera")
        yield from bps.close_run()

    RE(plan())
    assert public_api  # the writes went through the public API
    path = writer.last_path
    run = read_run(path)
    ds = check_stream(run, docs, "primary")
    assert np.isnan(ds["five_temp"].values[[96, 193]]).all()
    assert ds["five_state"].values[:2].tolist() == ["state-1", "state-2"]
    check_stream(run, docs, "camera")
    # plain zarr and xarray, no labctl
    root = zarr.open_group(path, mode="r")
    assert root["primary/five_temp"].shape == (300,)
    assert root["camera/img_image"].shape == (7, 8, 6)
    assert root["camera/timestamps/img_image"].shape == (7,)
    prim = xr.open_zarr(path, group="primary")
    assert prim.sizes == {"time": 300}
    counts = [e["data"]["five_count"] for e in docs.of("event") if "five_count" in e["data"]]
    assert prim["five_count"].values.tolist() == counts
    cam = xr.open_zarr(path, group="camera")
    emitted = [e["data"]["img_image"] for e in docs.of("event") if "img_image" in e["data"]]
    assert np.array_equal(cam["img_image"].values, np.stack(emitted))
    assert cam["img_spectrum"].dims == ("time", "img_spectrum_dim_1")
    _no_padding(path)
    assert not list(path.rglob("*.partial"))


def test_rows_are_visible_during_the_run(RE, tmp_path):
    writer = RunWriter(tmp_path, flush_interval_s=0.1)
    RE.subscribe(writer)
    seen, five = [], Five(name="five")

    def plan():
        yield from bps.open_run()
        for _ in range(7):
            yield from bps.trigger_and_read([five])
        yield from bps.sleep(0.6)  # the timer thread flushes
        seen.append(xr.open_zarr(writer.current_path, group="primary", consolidated=False).sizes)
        yield from bps.close_run()

    RE(plan())
    assert seen == [{"time": 7}]


def test_frames_in_shards_and_per_frame(RE, docs, tmp_path):
    writer = RunWriter(tmp_path)
    RE.subscribe(writer)
    RE.subscribe(docs)
    cam = FakeCamera("cam", lambda: writer.current_path, block=5, blocks=4, frames_per_shard=8)
    RE(fly(cam, 1))
    ds = read_run(writer.last_path).stream("oa")
    frames = np.stack([make_frame(i, cam.shape) for i in range(20)])
    assert np.array_equal(ds["cam_image"].values, frames)
    assert ds["time"].values.tolist() == cam.stamps
    plain = xr.open_zarr(writer.last_path, group="assets")
    assert np.array_equal(plain["cam_image"].values, frames)

    cam1 = FakeCamera("one", lambda: writer.current_path, frames_per_shard=1)
    RE(bp.count([cam1], 4))
    arr = zarr.open_array(writer.last_path, path="assets/one_image", mode="r")
    assert np.array_equal(arr[:], np.stack([make_frame(i, cam1.shape) for i in range(4)]))
    _no_padding(writer.last_path)


def test_frame_writer_shows_whole_shards_until_flushed(tmp_path):
    store = tmp_path / "run.zarr"
    zarr.open_group(store, mode="w", attributes={"labctl_format": 1, "start": {}})
    fw = FrameWriter(store, "det", (16, 8), "uint16", frames_per_shard=4, flush_interval_s=3600)
    frames = np.stack([make_frame(i, (16, 8)) for i in range(11)])
    fw.append(frames[:3])
    assert fw.length == 0
    assert zarr.open_array(store, path=fw.array_path, mode="r").shape == (0, 16, 8)
    fw.append(frames[3:9])
    assert fw.length == 8
    assert zarr.open_array(store, path=fw.array_path, mode="r").shape == (8, 16, 8)
    assert fw.flush() == 9
    fw.append(frames[9:])
    fw.close()
    arr = zarr.open_array(store, path=fw.array_path, mode="r")
    assert arr.shape == (11, 16, 8) and np.array_equal(arr[:], frames)
    assert zarr.open_array(store, path=fw.timestamps_path, mode="r").shape == (11,)


def test_a_crash_before_the_metadata_leaves_the_old_shape(tmp_path, monkeypatch):
    """Chunks go first: until the metadata is committed, readers see the old rows only."""
    root = run_sync(zarr.api.asynchronous.open_group(store=str(tmp_path), mode="w"))
    col = ColumnArray("", "x", (), "float64", fill=np.nan, chunk_rows=4)
    run_sync(create_columns(root, [col], tmp_path))
    write_columns(tmp_path, [(col, np.arange(6.0), 6)])
    meta = (tmp_path / "x" / "zarr.json").read_bytes()

    def die(self):
        raise OSError("power cut")

    monkeypatch.setattr(_public.DiskStore, "commit", die)
    with pytest.raises(OSError, match="power cut"):
        write_columns(tmp_path, [(col, np.arange(6.0, 11.0), 11)])
    assert (tmp_path / "x" / "zarr.json").read_bytes() == meta  # shape still 6
    assert json.loads(meta)["shape"] == [6]
    assert (tmp_path / "x" / "c" / "2").exists()  # rows 8..10 already written
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "x", mode="r")[:], np.arange(6.0))


def test_recover_completes_a_store_written_through_the_public_api(RE, docs, tmp_path):
    RE.subscribe(docs)
    RE(read_plan(Five(name="five"), 30))
    run_docs = docs.all
    writer = RunWriter(tmp_path, background=False, flush_interval_s=3600)
    for name, doc in run_docs[:22]:  # start, descriptor, 20 events
        writer(name, doc)
    writer.flush()
    for name, doc in run_docs[22:30]:  # 8 more, journaled only: then the process "dies"
        writer(name, doc)
    writer.close(flush=False)
    path = writer.last_path
    assert xr.open_zarr(path, group="primary", consolidated=False).sizes == {"time": 20}
    report = recover(path)
    assert report.rows == {"primary": 28} and report.restored == {"primary": 8}
    ds = read_run(path).stream()
    events = [d for n, d in run_docs if n == "event"][:28]
    assert ds["seq_num"].values.tolist() == [e["seq_num"] for e in events]
    assert ds["five_state"].values.tolist() == [e["data"]["five_state"] for e in events]
    _no_padding(path)


def test_run_refuses_to_wait_on_its_own_loop():
    async def inner():
        return _public.run(_noop())

    async def _noop():
        return 1

    assert _public.run(_noop()) == 1
    with pytest.raises(RuntimeError, match="loop itself"):
        _public.run(inner())
