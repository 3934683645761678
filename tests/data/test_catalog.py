"""Catalog: listing and searching runs; the reader on what the catalog finds."""

from __future__ import annotations

import datetime as dt

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import pytest

from labctl.core.errors import DataError
from labctl.data import Catalog, RunWriter
from tests.data.conftest import Five


@pytest.fixture
def catalog_runs(RE, tmp_path):
    writer = RunWriter(tmp_path)
    RE.subscribe(writer)
    five = Five(name="five")
    (uid1,) = RE(bp.count([five], 2, md={"sample": {"name": "mouse-3"}, "operator": "ana"}))
    (uid2,) = RE(bp.count([five], 1, md={"sample": {"name": "mouse-4"}}))

    def failing():
        yield from bps.open_run(md={"plan_name": "heat"})
        raise ValueError("thermometer unplugged")

    with pytest.raises(ValueError):
        RE(failing())
    return tmp_path, (uid1, uid2)


def test_lists_finds_and_searches(catalog_runs, tmp_path):
    data_dir, (uid1, uid2) = catalog_runs
    (data_dir / "not-a-run.zarr").mkdir()  # ignored
    cat = Catalog(data_dir)
    assert len(cat) == 3
    assert [r.plan_name for r in cat] == ["count", "count", "heat"]
    assert cat.find(uid1[:6]).uid == uid1
    assert cat[uid2].uid == uid2 and cat[-1].start["plan_name"] == "heat"
    assert [r.uid for r in cat.search(plan_name="count")] == [uid1, uid2]
    assert [r.uid for r in cat.search(**{"sample.name": "mouse-4"})] == [uid2]
    assert [r.uid for r in cat.search(operator="ana", plan_name="count")] == [uid1]
    assert [r.exit_status for r in cat.search(exit_status="fail")] == ["fail"]
    today = dt.date.fromtimestamp(cat.find(uid1).time)
    assert len(cat.search(on=today.isoformat())) == 3
    assert cat.search(on=today - dt.timedelta(days=1)) == []
    assert len(cat.search(since=cat.find(uid2).time)) == 2
    assert [r.uid for r in cat.search(until=cat.find(uid1).time)] == [uid1]
    with pytest.raises(DataError, match="no run"):
        cat.find("zzzz")
    with pytest.raises(DataError, match="matches"):
        cat.find("")  # every uid starts with ""


def test_incomplete_runs_are_listed(RE, tmp_path):
    writer = RunWriter(tmp_path, background=False, flush_interval_s=3600)
    RE.subscribe(writer)
    RE(bp.count([Five(name="five")], 1))
    start = {"uid": "0123456789abcdef", "time": 1.7e9, "scan_id": 9, "plan_name": "died"}
    writer("start", start)
    writer.close(flush=False)
    cat = Catalog(tmp_path)
    assert [r.exit_status for r in cat] == ["incomplete", "success"]  # sorted by start time
    assert cat.find("0123").plan_name == "died" and cat["0123"].stop is None
