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


def _study_dirs(study: str, data_dirs: list[Path]) -> tuple[str, list[Path]]:
    """A study id (from an id or a study file) and where its runs are."""
    p = Path(study)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        sf = load_study(p)
        return sf.study.study, [sf.data_dir]
    return study, data_dirs


def study_runs(study: str, data_dirs: list[Path], subject=None, group=None) -> list:
    """The runs (catalog entries) of a study, optionally of one subject or group."""
    from labctl.data import Catalog

    study_id, dirs = _study_dirs(study, data_dirs)
    seen, out = set(), []
    criteria = {"study": study_id}
    if subject:
        criteria["subject"] = subject
    if group:
        criteria["group"] = group
    for d in dirs:
        if not Path(d).is_dir():
            continue
        for r in Catalog(d).search(**criteria):
            if r.uid not in seen:
                seen.add(r.uid)
                out.append(r)
    return sorted(out, key=lambda r: r.time)


def format_study_runs(runs) -> list[str]:
    """One line per run: subject, group, session, time post injection, plan, status."""
    lines = [
        f"{'uid':<8}  {'subject':<8}  {'group':<10}  {'session':<16}  "
        f"{'t_post_injection_s':>18}  {'plan':<26}  {'status':<8}  store"
    ]
    for r in runs:
        s = r.start
        t_pi = s.get("t_post_injection_s")
        t_text = f"{t_pi:.0f}" if isinstance(t_pi, int | float) else "-"
        lines.append(
            f"{r.uid[:8]:<8}  {s.get('subject', '-')!s:<8}  {s.get('group', '-')!s:<10}  "
            f"{s.get('session', '-')!s:<16}  {t_text:>18}  {r.plan_name or '?':<26}  "
            f"{r.exit_status:<8}  {r.path}"
        )
    return lines


def print_study_runs(args, data_dirs: list[Path]) -> int:
    """``labctl runs --study S [--subject M] [--group G]``."""
    runs = study_runs(args.study, data_dirs, args.subject, args.group)
    if args.plan:
        runs = [r for r in runs if r.plan_name == args.plan]
    if args.last:
        runs = runs[-args.last :]
    print("\n".join(format_study_runs(runs)) if runs else f"study {args.study}: no runs")
    return 0
