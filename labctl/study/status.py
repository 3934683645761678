"""A study's timeline per subject: done, failed, due, overdue, upcoming, waiting, blocked.

A session is ``due`` from its time until its ``window`` has passed, then ``overdue``
(clock times need the study's ``start``; without it only recorded outcomes and study
times are shown).
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from labctl.config.study_file import load_study, parse_duration
from labctl.study import schedule
from labctl.study.records import StudyRecords

__all__ = ["session_state", "format_status"]


def session_state(slot, record: dict | None, start: datetime | None, now: float) -> str:
    """One word for a session of a subject (module doc)."""
    if record is not None:
        return "done" if record.get("status") == "success" else record.get("status", "?")
    if slot.t_s is None:
        return "blocked" if slot.blocked else "waiting"
    if start is None:
        return "pending"
    t = start.timestamp() + slot.t_s
    if now < t:
        return "upcoming"
    return "due" if now <= t + parse_duration(slot.session.window) else "overdue"


def _when(slot, start: datetime | None) -> str:
    if slot.t_s is None:
        return slot.reason
    text = f"t = {slot.t_s / 3600:7.2f} h"
    if slot.t_post_injection_s is not None:
        text += f" ({slot.t_post_injection_s / 3600:.2f} h p.i.)"
    if start is not None:
        text += f"  {datetime.fromtimestamp(start.timestamp() + slot.t_s):%Y-%m-%d %H:%M}"
    return text


def format_status(path: str | Path, now: float | None = None) -> list[str]:
    """The lines ``labctl study status`` prints."""
    sf = load_study(path)
    records = StudyRecords(sf.data_dir)
    now = time.time() if now is None else now
    ledger = records.ledger()
    lines = [f"study {sf.study.study}: {len(sf.study.subjects)} subject(s), data in {sf.data_dir}"]
    for subj in sf.study.subjects:
        group = schedule.subject_group(sf, records, subj.id)
        lines.append(f"{subj.id} ({group})")
        for slot in schedule.timeline(sf, records, subj.id):
            rec = ledger.get(subj.id, {}).get(slot.session.name)
            state = session_state(slot, rec, sf.study.start, now)
            uids = " ".join((r.get("uid") or "?")[:8] for r in (rec or {}).get("runs", []))
            lines.append(
                f"  {slot.session.name:<18} {state:<9} {_when(slot, sf.study.start)}"
                + (f"  runs {uids}" if uids else "")
            )
    for name, d in records.decisions().items():
        lines.append(f"decision {name}: {d.get('status')} {d.get('outcome')}")
        for subject, reason in d.get("blocked", {}).items():
            lines.append(f"  blocked {subject}: {reason}")
    return lines
