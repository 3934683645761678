"""Crash safety: a killed process leaves a readable store that ``recover`` completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from labctl.core.errors import DataError
from labctl.data import RunWriter, read_run, recover
from labctl.data._store import _PADDED
from tests.data.conftest import Five, Imager, read_plan

CRASH_SCRIPT = textwrap.dedent("""
    import sys
    from bluesky import RunEngine
    from labctl.data import RunWriter
    from tests.data.conftest import Five, Imager, read_plan
    from ophyd import Device

    RE = RunEngine({}, context_managers=[])
    RE.subscribe(RunWriter(sys.argv[1], on_run_start=lambda p: print("PATH", p, flush=True)))

    def show(name, doc):  # subscribed after the writer: printed events are journaled
        if name == "event":
            print("EVENT", doc["seq_num"], repr(doc["time"]), flush=True)

    RE.subscribe(show)

    class Both(Device):
        pass

    five, img = Five(name="five"), Imager(name="img")
    def plan():
        from bluesky import Msg
        import bluesky.preprocessors as bpp

        @bpp.run_decorator(md={"plan_name": "endless"})
        def inner():
            while True:
                yield Msg("create", name="primary")
                yield Msg("read", five)
                yield Msg("read", img)
                yield Msg("save")
                yield Msg("sleep", None, 0.01)
        yield from inner()

    RE(plan())
""")


def _replay_into(writer, docs, upto):
    for name, doc in docs[:upto]:
        writer(name, doc)


@pytest.mark.subprocess
def test_sigkill_mid_run_leaves_an_openable_store_that_recover_completes(tmp_path):
    script = tmp_path / "crash_run.py"
    script.write_text(CRASH_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).parents[2],
    )
    path, events = None, []
    try:
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            if line.startswith("PATH"):
                path = Path(line.split(maxsplit=1)[1].strip())
            elif line.startswith("EVENT"):
                _, seq, t = line.split()
                events.append((int(seq), float(t)))
                if events[-1][1] - events[0][1] > 3.0 or time.monotonic() > deadline:
                    break
        kill_time = time.time()
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        rest, _ = proc.communicate(timeout=30)
    events += [
        (int(ln.split()[1]), float(ln.split()[2]))
        for ln in rest.splitlines()
        if ln.startswith("EVENT")
    ]
    assert path is not None and len(events) > 100

    # plain zarr and xarray open the killed store
    group = zarr.open_group(path, mode="r")
    assert "stop" not in group.attrs and group.attrs["start"]["plan_name"] == "endless"
    plain = xr.open_zarr(path, group="primary", consolidated=False)
    stored = plain["seq_num"].values.tolist()
    assert stored == list(range(1, len(stored) + 1))  # a prefix, no holes
    old = [seq for seq, t in events if t < kill_time - 1.5]  # flushed once a second
    assert set(old) <= set(stored)
    emitted_time = dict(events)
    assert plain["time"].values.tolist() == [emitted_time[s] for s in stored]
    assert read_run(path).stream().sizes["time"] == len(stored)

    padded = [m for m in path.rglob("zarr.json") if _PADDED.search(m.read_bytes())]
    assert padded  # row counts were being updated in place when the process died
    report = recover(path)
    assert report.changed and report.stop["exit_status"] == "interrupted"
    assert not [m for m in path.rglob("zarr.json") if _PADDED.search(m.read_bytes())]
    run = read_run(path)
    assert run.stop["exit_status"] == "interrupted" and run.stop["reason"]
    ds = run.stream()
    seqs = ds["seq_num"].values.tolist()
    assert set(s for s, _ in events) <= set(seqs)  # every printed event was journaled
    assert seqs == list(range(1, len(seqs) + 1))
    assert ds["time"].values.tolist()[: len(events)] == [t for _, t in events][: len(seqs)]
    lost = report.lost.get("primary/img_image", 0)
    assert lost == len(seqs) - len(stored)  # arrays journaled by reference, never flushed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = xr.open_zarr(path, group="primary")  # consolidated now
    assert again.sizes["time"] == len(seqs)

    before = {p: p.read_bytes() for p in path.rglob("*") if p.is_file()}
    second = recover(path)
    assert not second.changed and second.stop == report.stop
    assert {p: p.read_bytes() for p in path.rglob("*") if p.is_file()} == before


def test_recover_rebuilds_rows_missing_from_arrays(RE, docs, tmp_path):
    RE.subscribe(docs)
    RE(read_plan(Five(name="five"), 40))
    RE(read_plan(Imager(name="img"), 1))  # a second run, unused
    run_docs = docs.all[:43]  # start, descriptor, 40 events, stop of the first run
    writer = RunWriter(tmp_path, background=False, flush_interval_s=3600)
    _replay_into(writer, run_docs, 2 + 25)  # start, descriptor, 25 events
    writer.flush()  # 25 rows on disk
    _replay_into(writer, run_docs[27:], 10)  # 10 more events, journaled only: "crash"
    writer.close(flush=False)
    path = writer.last_path
    assert read_run(path).stream().sizes["time"] == 25

    report = recover(path)
    assert report.restored == {"primary": 10} and report.rows == {"primary": 35}
    ds = read_run(path).stream()
    events = [d for n, d in run_docs if n == "event"][:35]
    assert ds["seq_num"].values.tolist() == [e["seq_num"] for e in events]
    assert np.array_equal(
        ds["five_temp"].values, [e["data"]["five_temp"] for e in events], equal_nan=True
    )
    assert ds["five_state"].values.tolist() == [e["data"]["five_state"] for e in events]
    assert read_run(path).timestamps()["five_on"].values.tolist() == [
        e["timestamps"]["five_on"] for e in events
    ]
    assert not recover(path).changed


def test_recover_uses_the_journaled_stop_when_it_got_that_far(RE, docs, tmp_path):
    RE.subscribe(docs)
    RE(read_plan(Five(name="five"), 5))
    writer = RunWriter(tmp_path, background=False, flush_interval_s=3600)
    _replay_into(writer, docs.all[:-1], len(docs.all) - 1)
    writer._runs[docs.all[0][1]["uid"]].journal.write("stop", docs.all[-1][1])  # died after
    writer.close(flush=False)
    report = recover(writer.last_path)
    assert report.stop == docs.all[-1][1]
    assert read_run(writer.last_path).stream().sizes["time"] == 5


def test_recover_refuses_what_is_not_a_labctl_run(tmp_path):
    with pytest.raises(DataError, match="not a zarr store"):
        recover(tmp_path)
    zarr.open_group(tmp_path / "other.zarr", mode="w").attrs["x"] = 1
    with pytest.raises(DataError, match="not a labctl run"):
        recover(tmp_path / "other.zarr")
    with pytest.raises(DataError):
        read_run(tmp_path / "other.zarr")


def test_recover_after_a_crash_between_metadata_writes(RE, docs, tmp_path):
    """One array's shape lags the others (killed while renaming metadata files)."""
    writer = RunWriter(tmp_path)
    RE.subscribe(writer)
    RE.subscribe(docs)
    RE(read_plan(Five(name="five"), 50))
    path = writer.last_path
    root = zarr.open_group(path, mode="r+", use_consolidated=False)
    del root.attrs["stop"]  # and the rewrite drops the consolidated metadata
    root["primary/five_temp"].resize((47,))
    ds = read_run(path).stream()
    assert ds.sizes["time"] == 47  # every stream cut to the rows all arrays hold
    with pytest.raises(ValueError):
        xr.open_zarr(path, group="primary", consolidated=False)
    report = recover(path)
    assert report.rows == {"primary": 50}
    assert report.stop == docs.of("stop")[0]  # the RunEngine got that far: journaled
    ds = read_run(path).stream()
    events = docs.of("event")
    assert np.array_equal(
        ds["five_temp"].values, [e["data"]["five_temp"] for e in events], equal_nan=True
    )


def _crashed_store(RE, docs, tmp_path, n_events=20, flushed=5):
    """A run store whose process died after ``flushed`` rows reached the arrays; every
    document (but the stop) is in its journal.  Returns (path, journal, events)."""
    RE.subscribe(docs)
    RE(read_plan(Five(name="five"), n_events))
    run_docs = docs.all[:-1]  # no stop: the process died
    writer = RunWriter(tmp_path, background=False, flush_interval_s=3600)
    _replay_into(writer, run_docs, 2 + flushed)
    writer.flush()
    _replay_into(writer, run_docs[2 + flushed :], len(run_docs))
    writer.close(flush=False)
    path = writer.last_path
    events = [d for n, d in run_docs if n == "event"]
    return path, path / "journal.jsonl", events


def _corrupt(journal: Path, edit) -> None:
    lines = journal.read_bytes().split(b"\n")
    journal.write_bytes(b"\n".join(edit(lines)))


def test_recover_skips_a_line_of_invalid_utf8_and_recovers_everything_else(RE, docs, tmp_path):
    path, journal, events = _crashed_store(RE, docs, tmp_path)
    bad = 2 + 10  # the 11th event's line

    def edit(lines):
        lines[bad] = lines[bad][:20] + b"\xff\xfe\x80" + lines[bad][20:]
        return lines

    _corrupt(journal, edit)
    report = recover(path)
    assert len(report.skipped) == 1 and "not valid UTF-8" in report.skipped[0]
    assert report.skipped[0].startswith(f"journal.jsonl:{bad + 1}:")
    ds = read_run(path).stream()
    expected = [e["seq_num"] for i, e in enumerate(events) if i != 10]
    assert ds["seq_num"].values.tolist() == expected


@pytest.mark.parametrize(
    ("garbage", "why"),
    [
        (b'{"name":"event","doc":{"uid"', "not valid JSON"),
        (b"[1, 2, 3]", "not a document"),
        (b'{"name":"event","doc":"text"}', "not a document"),
        (b'{"name":"picture","doc":{}}', "unknown document name"),
        (b'{"name":"event","doc":{"uid":5}}', "uid is not text"),
    ],
)
def test_recover_skips_lines_that_are_not_documents(RE, docs, tmp_path, garbage, why):
    path, journal, events = _crashed_store(RE, docs, tmp_path)
    _corrupt(journal, lambda lines: lines[:8] + [garbage] + lines[8:])
    report = recover(path)
    assert len(report.skipped) == 1 and why in report.skipped[0]
    assert read_run(path).stream().sizes["time"] == len(events)


def test_recover_writes_duplicated_documents_once(RE, docs, tmp_path):
    path, journal, events = _crashed_store(RE, docs, tmp_path)
    _corrupt(journal, lambda lines: lines[:12] + lines[1:12] + lines[12:])  # replayed lines
    report = recover(path)
    assert report.duplicates == 11 and not report.skipped
    ds = read_run(path).stream()
    assert ds["seq_num"].values.tolist() == [e["seq_num"] for e in events]


def test_recover_reports_events_whose_descriptor_is_torn(RE, docs, tmp_path):
    RE.subscribe(docs)
    RE(read_plan(Five(name="five"), 6))
    writer = RunWriter(tmp_path, background=False, flush_interval_s=3600)
    _replay_into(writer, docs.all[:1], 1)  # only the start reached the arrays
    writer.flush()
    _replay_into(writer, docs.all[1:-1], len(docs.all))
    writer.close(flush=False)
    path = writer.last_path
    journal = path / "journal.jsonl"

    def tear(lines):  # the descriptor line, cut short and ended (a torn write, then more)
        lines[1] = lines[1][: len(lines[1]) // 2]
        return lines

    _corrupt(journal, tear)
    report = recover(path)
    descriptor = docs.all[1][1]["uid"]
    assert report.orphans == {descriptor: 6}
    assert len(report.skipped) == 1 and "not valid JSON" in report.skipped[0]
    assert read_run(path).stop["exit_status"] == "interrupted"


@pytest.mark.subprocess
def test_labctl_recover_says_how_many_lines_it_skipped(RE, docs, tmp_path):
    path, journal, events = _crashed_store(RE, docs, tmp_path)
    _corrupt(journal, lambda lines: lines[:6] + [b"\xff\x00garbage"] + lines[6:])
    out = subprocess.run(
        [sys.executable, "-m", "labctl", "recover", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"primary: {len(events)} rows" in out
    assert "1 journal line(s) skipped:" in out and "journal.jsonl:7: not valid UTF-8" in out
