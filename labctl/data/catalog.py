"""``Catalog(data_dir)``: list and search the runs under a data directory.

Only each store's root ``zarr.json`` is read (start and stop documents), so listing
thousands of runs stays fast; ``catalog[uid]`` opens one with ``open_run``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from labctl.core.errors import DataError
from labctl.data._store import read_root_attrs
from labctl.data.reader import Run, read_run

__all__ = ["Catalog", "RunSummary"]

_UNSET = object()


@dataclass(frozen=True)
class RunSummary:
    """What the catalog knows of a run without opening its arrays."""

    path: Path
    start: dict
    stop: dict | None

    @property
    def uid(self) -> str:
        return self.start["uid"]

    @property
    def scan_id(self) -> Any:
        return self.start.get("scan_id")

    @property
    def plan_name(self) -> str | None:
        return self.start.get("plan_name")

    @property
    def time(self) -> float:
        """Start time, epoch seconds."""
        return float(self.start.get("time", 0.0))

    @property
    def date(self) -> date:
        return datetime.fromtimestamp(self.time).date()

    @property
    def exit_status(self) -> str:
        """The stop document's exit status, or "incomplete" (running or crashed)."""
        return self.stop.get("exit_status", "") if self.stop else "incomplete"

    def open(self) -> Run:
        return read_run(self.path)


def _lookup(doc: dict, dotted: str) -> Any:
    cur: Any = doc
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return _UNSET
        cur = cur[part]
    return cur


def _as_epoch(t: float | datetime | date) -> float:
    if isinstance(t, datetime):
        return t.timestamp()
    if isinstance(t, date):
        return datetime(t.year, t.month, t.day).timestamp()
    return float(t)


class Catalog:
    """The runs in ``data_dir`` (``<data_dir>/<YYYY-MM-DD>/*.zarr``), oldest first."""

    def __init__(self, data_dir: str | Path):
        self.data_dir = Path(data_dir)
        self._runs: list[RunSummary] = []
        self.refresh()

    def refresh(self) -> None:
        """Rescan the directory (new runs, runs that stopped since)."""
        runs = []
        for path in sorted({*self.data_dir.glob("*/*.zarr"), *self.data_dir.glob("*.zarr")}):
            try:
                attrs = read_root_attrs(path)
            except DataError:
                continue  # not a labctl run
            runs.append(RunSummary(path, attrs["start"], attrs.get("stop")))
        self._runs = sorted(runs, key=lambda r: r.time)

    def __len__(self) -> int:
        return len(self._runs)

    def __iter__(self) -> Iterator[RunSummary]:
        return iter(self._runs)

    def __repr__(self) -> str:
        return f"<Catalog {self.data_dir}: {len(self)} runs>"

    def find(self, uid: str) -> RunSummary:
        """The run whose uid is or starts with ``uid`` (``DataError`` if none or several)."""
        hits = [r for r in self._runs if r.uid.startswith(uid)]
        if not hits:
            raise DataError(f"{self.data_dir}: no run with uid {uid!r}")
        if len(hits) > 1 and not any(r.uid == uid for r in hits):
            raise DataError(f"{self.data_dir}: uid prefix {uid!r} matches {len(hits)} runs")
        return next((r for r in hits if r.uid == uid), hits[0])

    def __getitem__(self, key: str | int) -> Run:
        """``catalog[uid_or_prefix]`` or ``catalog[-1]`` (latest) -> an open ``Run``."""
        if isinstance(key, int):
            return self._runs[key].open()
        return self.find(key).open()

    def search(
        self,
        *,
        plan_name: str | None = None,
        exit_status: str | None = None,
        on: date | str | None = None,
        since: float | datetime | date | None = None,
        until: float | datetime | date | None = None,
        **metadata: Any,
    ) -> list[RunSummary]:
        """Runs matching every given criterion.

        ``on``: a date (or "YYYY-MM-DD") of the start; ``since``/``until``: start time
        bounds (epoch seconds, datetime or date); ``exit_status``: "success", "abort",
        "fail", "interrupted" (recovered) or "incomplete"; other keywords match start
        document fields, dotted for nested ones (``**{"sample.name": "mouse-3"}``).
        """
        if isinstance(on, str):
            on = date.fromisoformat(on)
        out = []
        for r in self._runs:
            if plan_name is not None and r.plan_name != plan_name:
                continue
            if exit_status is not None and r.exit_status != exit_status:
                continue
            if on is not None and r.date != on:
                continue
            if since is not None and r.time < _as_epoch(since):
                continue
            if until is not None and r.time > _as_epoch(until):
                continue
            if any(_lookup(r.start, k) != v for k, v in metadata.items()):
                continue
            out.append(r)
        return out
