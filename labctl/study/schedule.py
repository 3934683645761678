"""When each subject's sessions are due, in study time (s since study time 0).

A subject's group is the study file's unless a decision assigned another
(:meth:`~.records.StudyRecords.groups`).  A session applies to a subject whose group it
lists (every subject if it lists none); its time is its offset after the subject's last
administration (``p.i.``), after another of the subject's sessions, or after the time
post injection a decision found.  A time that cannot be known yet (a decision not made)
is ``None`` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from labctl.config.study_file import (
    Administration,
    Session,
    StudyFile,
    parse_dose,
    parse_duration,
    parse_session_time,
)
from labctl.study.records import StudyRecords

__all__ = ["Slot", "subject_group", "administrations_of", "session_time", "timeline"]


@dataclass
class Slot:
    """One session of one subject: its study time (s) or why it has none yet."""

    session: Session
    t_s: float | None
    t_post_injection_s: float | None
    reason: str = ""
    blocked: bool = False  #: can never run (e.g. its decision failed)


def subject_group(sf: StudyFile, records: StudyRecords, subject: str) -> str:
    return records.groups().get(subject, sf.subject(subject).group)


def administrations_of(sf: StudyFile, group: str) -> list[tuple[float, Administration]]:
    """``(study time s, administration)`` for a subject in ``group``, in time order."""
    out = [
        (parse_duration(a.at), a)
        for a in sf.study.administrations
        if a.groups is None or group in a.groups
    ]
    return sorted(out, key=lambda x: x[0])


def dose_of(a: Administration) -> tuple[float, str]:
    return parse_dose(a.dose)


def _last_administration(sf: StudyFile, group: str) -> float | None:
    adm = administrations_of(sf, group)
    return adm[-1][0] if adm else None


def session_time(
    sf: StudyFile, records: StudyRecords, subject: str, session: Session, _depth: int = 0
) -> Slot:
    """The study time of ``session`` for ``subject`` (module doc)."""
    group = subject_group(sf, records, subject)
    t_adm = _last_administration(sf, group)
    at = parse_session_time(session.at)
    if _depth > len(sf.study.sessions):
        return Slot(session, None, None, "sessions are scheduled after each other in a loop", True)
    if at.anchor == "pi":
        if t_adm is None:
            return Slot(session, None, None, f"group {group!r} has no administration", True)
        t = t_adm + at.offset_s
    elif at.anchor == "session":
        ref = session_time(sf, records, subject, sf.session(at.ref), _depth + 1)
        if ref.t_s is None:
            return Slot(session, None, None, f"after {at.ref}: {ref.reason}", ref.blocked)
        t = ref.t_s + at.offset_s
    else:
        rec = records.decision(at.ref)
        if rec is None:
            return Slot(session, None, None, f"waits for decision {at.ref!r}")
        if rec.get("status") != "made" or "peak_time_s" not in rec.get("outcome", {}):
            why = rec.get("reason", "no time found")
            return Slot(session, None, None, f"decision {at.ref!r}: {why}", True)
        if t_adm is None:
            return Slot(session, None, None, f"group {group!r} has no administration", True)
        t = t_adm + rec["outcome"]["peak_time_s"] + at.offset_s
    if t_adm is not None and t < t_adm and at.anchor != "session":
        return Slot(session, None, None, "scheduled before its administration", True)
    return Slot(session, t, None if t_adm is None or t < t_adm else t - t_adm)


def applies(session: Session, group: str) -> bool:
    return session.groups is None or group in session.groups


def timeline(sf: StudyFile, records: StudyRecords, subject: str) -> list[Slot]:
    """The subject's sessions (those of its current group), known times first in order."""
    group = subject_group(sf, records, subject)
    slots = [session_time(sf, records, subject, s) for s in sf.study.sessions if applies(s, group)]
    return sorted(slots, key=lambda s: (s.t_s is None, s.t_s or 0.0))
