"""``recover(path)``: complete a run store whose process died, from its journal.

The journal is replayed through the same row logic as the writer, so every row gets
the index it had when the run was live.  Rows the arrays already hold are kept; rows
past an array's end are written from the journal (values journaled by reference
that never reached their array become the fill value and are counted in the report);
every stream is brought to one length; the stop document is the journaled one if the
RunEngine got that far, else a new one with ``exit_status: "interrupted"`` (not one of
event-model's statuses: it marks a stop the RunEngine never wrote); metadata is
consolidated.  Running it again changes nothing.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import event_model
import zarr

from labctl.core.errors import DataError
from labctl.data._store import (
    MISSING,
    ColumnArray,
    consolidate,
    read_root_attrs,
    run_sync,
    to_jsonable,
    unpad_metadata,
)
from labctl.data.journal import JOURNAL_NAME, is_ref, read_journal
from labctl.data.writer import _Run

__all__ = ["recover", "RecoveryReport"]

log = logging.getLogger(__name__)


@dataclass
class RecoveryReport:
    """What ``recover`` did."""

    path: Path
    changed: bool
    stop: dict
    rows: dict[str, int] = field(default_factory=dict)  # stream -> rows after recovery
    restored: dict[str, int] = field(default_factory=dict)  # stream -> rows added
    lost: dict[str, int] = field(default_factory=dict)  # "stream/key" -> values lost
    #: journal lines skipped ("journal.jsonl:LINE: why"): bad UTF-8, JSON or document
    skipped: list[str] = field(default_factory=list)
    #: events (and stream data) whose descriptor is not in the journal, per descriptor uid
    orphans: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0  #: documents journaled twice (same uid), written once


def _is_consolidated(path: Path) -> bool:
    with open(path / "zarr.json", "rb") as f:
        return json.loads(f.read()).get("consolidated_metadata") is not None


def _unref(data: dict) -> tuple[dict, list[str]]:
    """Journal event data with references replaced by MISSING; the referenced keys."""
    refs = [k for k, v in data.items() if is_ref(v)]
    if not refs:
        return data, refs
    return {k: (MISSING if k in refs else v) for k, v in data.items()}, refs


class _Replay:
    """The journal replayed into a run's streams (what ``recover`` writes afterwards)."""

    def __init__(self, path: Path, run: _Run, start: dict, opener) -> None:
        self.path, self.run, self.start, self.opener = path, run, start, opener
        self.stop_doc: dict | None = None
        self.last_time = float(start.get("time", time.time()))
        self.lost_keys: dict = {}
        self.skipped: list[str] = []
        self.orphans: dict[str, int] = {}
        self.duplicates = 0
        self._seen: set[str] = set()

    def run_journal(self, journal: Path) -> None:
        for i, (name, doc) in enumerate(read_journal(journal, skipped=self.skipped)):
            uid = doc.get("uid")
            if uid is not None and name not in ("event", "event_page"):  # events: event()
                if (name, uid) in self._seen:
                    self.duplicates += 1
                    continue
                self._seen.add((name, uid))
            try:
                self.document(name, doc)
            except (KeyError, TypeError, ValueError) as exc:
                why = f"document {i + 1} ({name}) unusable: {type(exc).__name__}: {exc}"
                log.warning("%s: %s", journal, why)
                self.skipped.append(f"{JOURNAL_NAME}: {why}")

    def document(self, name: str, doc: dict) -> None:
        run = self.run
        t = doc.get("time", 0.0)
        if isinstance(t, int | float) and math.isfinite(t):
            self.last_time = max(self.last_time, float(t))
        if name == "start":
            if doc["uid"] != self.start["uid"]:
                raise DataError(
                    f"{self.path}: journal belongs to run {doc['uid']}, not {self.start['uid']}"
                )
        elif name == "descriptor":
            self.descriptor(doc)
        elif name in ("event", "event_page", "stream_datum"):
            stream = run.by_desc.get(doc["descriptor"])
            if stream is None:
                n = len(doc.get("seq_num", ())) if name == "event_page" else 1
                self.orphans[doc["descriptor"]] = self.orphans.get(doc["descriptor"], 0) + n
                return
            if name == "stream_datum":
                resource = run.resources[doc["stream_resource"]]
                stream.add_stream_datum(doc, resource, self.last_time, run.frame_times)
                return
            events = [doc] if name == "event" else event_model.unpack_event_page(doc)
            for ev in events:
                self.event(stream, ev)
        elif name == "stream_resource":
            run.resources[doc["uid"]] = doc
        elif name == "stop":
            self.stop_doc = doc

    def event(self, stream, ev: dict) -> None:
        key = ("event", ev["uid"])
        if key in self._seen:
            self.duplicates += 1
            return
        self._seen.add(key)
        data, refs = _unref(ev["data"])
        stream.add_event({**ev, "data": data}, self.last_time, self.run.frame_times)
        for key in refs:
            self.lost_keys.setdefault((stream, key), []).append(stream.n_rows - 1)

    def descriptor(self, doc: dict) -> None:
        run, opener = self.run, self.opener
        stream = run.stream_for(doc)
        if stream.opener is None:
            stream.opener = opener
            for attr in ("time", "seq"):
                col = getattr(stream, attr)
                old = opener(stream.group, col.name, 0)
                if old is not None:
                    stream.columns[stream.columns.index(col)] = old
                    setattr(stream, attr, old)
        stream.add_descriptor(doc)
        run.by_desc[doc["uid"]] = stream


def _stream_snapshot(stream, lost_keys: dict, report: RecoveryReport) -> tuple:
    """What to write of one stream (rows still pending in its columns); counts its
    restored rows and, per data key, rows whose values were lost."""
    target = max([stream.n_rows] + [c.n_disk for c in stream.columns if c.arr is not None])
    work = []
    for col in stream.columns:
        skip = max(0, col.n_disk - col.start_row) if col.arr is not None else 0
        work.append((col, col.pending[skip:]))
        col.pending = []
    before = min((c.n_disk for c in stream.columns if c.arr is not None), default=0)
    report.restored[stream.name] = max(0, target - before)
    report.rows[stream.name] = target
    for (s, key), rows in lost_keys.items():
        if s is stream:
            n_lost = sum(1 for r in rows if r >= stream.data[key].n_disk)
            if n_lost:
                report.lost[f"{stream.name}/{key}"] = n_lost
    return stream, work, target, stream.group_attrs()


def _interrupted_stop(start: dict, last_time: float, report: RecoveryReport) -> dict:
    """The stop document of a run whose process died before writing one."""
    return {
        "uid": str(uuid.uuid4()),
        "run_start": start["uid"],
        "time": last_time,
        "exit_status": "interrupted",
        "reason": "the writing process died; completed from journal.jsonl by labctl.data.recover",
        "num_events": dict(report.rows),
    }


def recover(path: str | Path) -> RecoveryReport:
    """Complete the run store at ``path`` from its journal (idempotent).

    Raises ``DataError`` if ``path`` is not a labctl run or has no journal.
    """
    path = Path(path)
    attrs = read_root_attrs(path)
    if attrs.get("stop") and _is_consolidated(path):
        return RecoveryReport(path, False, attrs["stop"], dict(attrs.get("lengths", {})))
    journal = path / JOURNAL_NAME
    if not journal.exists():
        raise DataError(f"{path}: no {JOURNAL_NAME}; cannot recover this run")
    start = attrs["start"]
    run = _Run(path, start, "auto", create=False)

    def opener(group: str, name: str, row: int) -> ColumnArray | None:
        try:
            arr = run_sync(run.root.getitem(f"{group}/{name}"))
        except (KeyError, OSError, ValueError):
            return None
        if not isinstance(arr, zarr.AsyncArray):
            return None
        return ColumnArray.open_existing(arr, start_row=row)

    replay = _Replay(path, run, start, opener)
    replay.run_journal(journal)
    stop_doc, last_time, lost_keys = replay.stop_doc, replay.last_time, replay.lost_keys
    for stream in run.streams.values():
        stream.materialize_all(run.frame_times)

    report = RecoveryReport(
        path,
        True,
        {},
        skipped=replay.skipped,
        orphans=replay.orphans,
        duplicates=replay.duplicates,
    )
    snaps = [_stream_snapshot(stream, lost_keys, report) for stream in run.streams.values()]
    run.write(snaps, run.root_attrs())

    stop_doc = attrs.get("stop") or stop_doc or _interrupted_stop(start, last_time, report)
    report.stop = stop_doc
    recovered = {"time": time.time(), "restored": report.restored, "lost": report.lost}

    async def finish() -> None:
        for stream in run.streams.values():
            g = run.groups[stream.group]
            await g.update_attributes(
                {"labctl": {**stream.group_attrs()["labctl"], "length": report.rows[stream.name]}}
            )
        await run.root.update_attributes(
            {
                "stop": to_jsonable(stop_doc),
                "lengths": report.rows,
                "recovered": to_jsonable(recovered),
            }
        )

    run_sync(finish())
    for leftover in path.rglob("*.partial"):
        leftover.unlink(missing_ok=True)
    unpad_metadata(path)
    consolidate(path)
    log.info("recovered %s: %s", path, report)
    return report
