"""Frames written by a detector's FrameWriter and referenced by StreamResource documents."""

from __future__ import annotations

import threading
import time

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import numpy as np
import pytest
import xarray as xr
from event_model import DocumentNames, schema_validators
from ophyd.status import Status

from labctl.core.errors import DataError
from labctl.data import FrameWriter, RunWriter, read_run
from labctl.data.journal import read_journal

_BASES: dict[tuple[int, int], np.ndarray] = {}


def make_frame(i: int, shape: tuple[int, int]) -> np.ndarray:
    """Frame ``i``: a deterministic pattern, different for every frame."""
    base = _BASES.get(shape)
    if base is None:
        h, w = shape
        base = _BASES[shape] = ((np.arange(h * w) * 7) % 65536).astype(np.uint16).reshape(h, w)
    return base + np.uint16((131 * i) % 65536)  # wraps modulo 2**16


class FakeCamera:
    """A WritesStreamAssets detector: frames go to a FrameWriter in the run's store.

    ``trigger`` takes one frame (step scans); ``kickoff`` starts a writer thread that
    writes ``blocks`` of ``block`` frames (fly scans, collected with ``bps.collect``).
    """

    def __init__(
        self, name, path_provider, shape=(64, 48), *, block=5, blocks=4, frames_per_shard=None
    ):
        self.name, self.parent = name, None
        self.key = f"{name}_image"
        self.shape = shape
        self._path = path_provider
        self._fw: FrameWriter | None = None
        self._block, self._blocks, self._shard = block, blocks, frames_per_shard
        self.stamps: list[float] = []
        self._thread: threading.Thread | None = None

    def _writer(self) -> FrameWriter:
        path = self._path()
        if self._fw is None or self._fw.store != path:  # a new run: a new store
            self._fw = FrameWriter(
                path, self.key, self.shape, np.uint16, frames_per_shard=self._shard
            )
            self.stamps = []
        return self._fw

    def _take(self, n: int) -> None:
        fw = self._writer()
        first = fw.appended
        stamps = [1.7e9 + 0.01 * (first + k) for k in range(n)]
        fw.append(np.stack([make_frame(first + k, self.shape) for k in range(n)]), stamps)
        self.stamps += stamps

    # bluesky protocols
    def describe(self):
        return {self.key: FrameWriter.describe_key(self.shape, np.uint16, f"sim:{self.name}")}

    describe_collect = describe

    def read(self):
        return {}

    def read_configuration(self):
        return {}

    def describe_configuration(self):
        return {}

    def trigger(self):
        self._take(1)
        self._fw.flush()
        st = Status()
        st.set_finished()
        return st

    def collect_asset_docs(self, index=None):
        yield from self._fw.collect_asset_docs(index)

    def get_index(self):
        return self._fw.length

    def kickoff(self):
        self._writer()

        def run():
            for _ in range(self._blocks):
                self._take(self._block)

        self._thread = threading.Thread(target=run)
        self._thread.start()
        st = Status()
        st.set_finished()
        return st

    def complete(self):
        self._thread.join()
        self._fw.flush()
        st = Status()
        st.set_finished()
        return st


def _setup(RE, tmp_path, docs, **cam_kw):
    cam_kw.setdefault("frames_per_shard", 1)  # step scans flush every frame
    writer = RunWriter(tmp_path)
    RE.subscribe(writer)
    RE.subscribe(docs)
    return writer, FakeCamera("cam", lambda: writer.current_path, **cam_kw)


def fly(cam, collects):
    """Kick off the camera's writer thread, collect while it runs, then at the end."""
    yield from bps.open_run(md={"plan_name": "fly"})
    yield from bps.declare_stream(cam, name="oa", collect=True)
    yield from bps.kickoff(cam, wait=True)
    for _ in range(collects):
        yield from bps.collect(cam, name="oa")  # whatever is visible already
    yield from bps.complete(cam, wait=True)
    yield from bps.collect(cam, name="oa")
    yield from bps.close_run()


@pytest.mark.slow
def test_1000_frames_512x512_read_back_exactly(RE, docs, tmp_path):
    shape, n = (512, 512), 1000
    writer, cam = _setup(
        RE, tmp_path, docs, shape=shape, block=50, blocks=n // 50, frames_per_shard=None
    )  # default: ~16 MiB shards
    RE(fly(cam, 5))
    run = read_run(writer.last_path)
    ds = run.stream("oa")
    img = ds["cam_image"]
    assert img.dims == ("time", "cam_image_dim_1", "cam_image_dim_2")
    assert img.shape == (n, 512, 512) and img.dtype == np.uint16
    for i in range(0, n, 100):  # lazily, 100 frames at a time
        block = img[i : i + 100].values
        assert all(np.array_equal(block[k], make_frame(i + k, shape)) for k in range(100))
    sds = docs.of("stream_datum")
    seq = [s for d in sds for s in range(d["seq_nums"]["start"], d["seq_nums"]["stop"])]
    idx = [s for d in sds for s in range(d["indices"]["start"], d["indices"]["stop"])]
    assert ds["seq_num"].values.tolist() == seq == list(range(1, n + 1))
    assert idx == list(range(n))
    assert ds["time"].values.tolist() == cam.stamps  # rows without events: frame times
    assert run.timestamps("oa")["cam_image"].values.tolist() == cam.stamps
    (desc,) = docs.of("descriptor")
    assert desc["data_keys"]["cam_image"].items() <= img.attrs.items()  # as described
    assert run.descriptors("oa") == [desc]
    assert run.start == docs.of("start")[0] and run.stop == docs.of("stop")[0]


def test_count_with_a_stream_asset_detector(RE, docs, tmp_path):
    writer, cam = _setup(RE, tmp_path, docs)
    RE(bp.count([cam], 8))
    ds = read_run(writer.last_path).stream("primary")
    events = docs.of("event")
    assert ds["seq_num"].values.tolist() == [e["seq_num"] for e in events] == list(range(1, 9))
    assert ds["time"].values.tolist() == [e["time"] for e in events]
    assert np.array_equal(
        ds["cam_image"].values, np.stack([make_frame(i, cam.shape) for i in range(8)])
    )
    assert [d["indices"] for d in docs.of("stream_datum")] == [
        {"start": i, "stop": i + 1} for i in range(8)
    ]


def test_frames_are_sliced_lazily(RE, docs, tmp_path):
    writer, cam = _setup(RE, tmp_path, docs)
    RE(bp.count([cam], 6))
    ds = read_run(writer.last_path).stream()
    chunk0 = writer.last_path / "assets" / "cam_image" / "c.0.0.0"
    chunk0.write_bytes(b"not a frame")  # damage frame 0 only
    assert np.array_equal(ds["cam_image"][4].values, make_frame(4, cam.shape))
    assert np.array_equal(
        ds["cam_image"][1:3].values, np.stack([make_frame(1, cam.shape), make_frame(2, cam.shape)])
    )
    with pytest.raises(ValueError):
        ds["cam_image"][0].values  # noqa: B018


def test_collect_shards_from_a_writer_thread(RE, docs, tmp_path):
    writer, cam = _setup(RE, tmp_path, docs, block=5, blocks=4, frames_per_shard=8)
    RE(fly(cam, 1))
    ds = read_run(writer.last_path).stream("oa")
    n = 20
    assert ds["seq_num"].values.tolist() == list(range(1, n + 1))
    assert ds["time"].values.tolist() == cam.stamps
    assert np.array_equal(
        ds["cam_image"].values, np.stack([make_frame(i, cam.shape) for i in range(n)])
    )
    plain = xr.open_zarr(writer.last_path, group="assets")  # frames without labctl
    assert plain["cam_image"].dims[0] == "cam_image_frame" and plain.sizes["cam_image_frame"] == n


def test_journal_of_a_frame_run_validates(RE, docs, tmp_path):
    writer, cam = _setup(RE, tmp_path, docs)
    RE(bp.count([cam], 3))
    journal = list(read_journal(writer.last_path / "journal.jsonl", strict=True))
    assert [n for n, _ in journal] == [n for n, _ in docs.all]
    for name, doc in journal:
        schema_validators[DocumentNames[name]].validate(doc)
    (res,) = [d for n, d in journal if n == "stream_resource"]
    assert res["mimetype"] == "application/x-zarr"
    assert res["uri"].endswith(writer.last_path.name)
    assert res["parameters"]["array"] == "assets/cam_image"


def test_frame_writer_shards_become_visible_on_flush(tmp_path):
    import zarr

    store = tmp_path / "run.zarr"
    zarr.open_group(store, mode="w", attributes={"labctl_format": 1, "start": {}})
    fw = FrameWriter(store, "det", (16, 8), "uint16", frames_per_shard=4, flush_interval_s=3600)
    frames = np.stack([make_frame(i, (16, 8)) for i in range(11)])
    fw.append(frames[:3])
    assert fw.length == 0 and fw.appended == 3  # the first shard is not complete
    fw.append(frames[3:9])
    assert fw.length == 8  # two whole shards
    assert fw.flush() == 9
    fw.append(frames[9], timestamps=[5.0])
    fw.append(frames[10], timestamps=[6.0])
    fw.close()
    arr = zarr.open_array(store, path=fw.array_path, mode="r")
    assert arr.shape == (11, 16, 8) and np.array_equal(arr[:], frames)
    stamps = zarr.open_array(store, path=fw.timestamps_path, mode="r")[:]
    assert stamps.shape == (11,) and stamps[-2:].tolist() == [5.0, 6.0]
    assert all(t <= time.time() for t in stamps[:9])
    with pytest.raises(DataError):
        fw.append(frames[0])
    with pytest.raises(DataError):
        FrameWriter(tmp_path / "missing.zarr", "det", (2, 2), "uint8")
