"""Decisions from stored data: a metric per subject and session, then a rule.

The metric is recomputed from the images a session's run stored, not taken from the
plan's own summary: the fluorescence image (``fluo_image``, last frame) with the tumor
ROI and normal-tissue masks the plan stored beside it (``timecourse_roi_mask``,
``timecourse_background_mask``).  ``specific`` = tumor mean - normal mean (counts: the
camera offset and dark current cancel), ``tnr`` = tumor mean / normal mean.

Rules (:class:`~labctl.config.study_file.Decision`):

- ``peak_time``: the session with the largest group-mean metric; its time post injection
  (the group mean of the recorded ``t_post_injection_s``) is the outcome.
- ``thresholds``: each subject into ``assign[i]``, ``i`` = number of ``cuts`` <= metric.
- ``stratified``: strata cut at ``cuts``; within each stratum the subjects, shuffled by
  the decision's seed, go to the arms in turn (balanced arms per stratum).

Every decision is stored (:meth:`~.records.StudyRecords.record_decision`) with its metric,
rule, inputs (subject, session, run uid, value) and outcome.  A subject whose source
session failed has no metric: it is listed as blocked, with the reason, and the others go
on.
"""

from __future__ import annotations

import bisect
import math

import numpy as np

from labctl.config.study_file import Decision, Metric, StudyFile
from labctl.core.errors import DataError
from labctl.study.records import StudyRecords

__all__ = ["image_metric", "run_metric", "decision_ready", "make_decision"]


def image_metric(image: np.ndarray, roi: np.ndarray, normal: np.ndarray, statistic: str) -> float:
    """``specific`` or ``tnr`` of ``image`` over the boolean masks ``roi`` and ``normal``."""
    image = np.asarray(image, dtype=float)
    roi, normal = np.asarray(roi, bool), np.asarray(normal, bool)
    if not roi.any() or not normal.any():
        raise DataError("an empty ROI or normal-tissue mask")
    t, n = float(image[roi].mean()), float(image[normal].mean())
    if statistic == "specific":
        return t - n
    return t / n if n > 0 else math.nan


def run_metric(path, metric: Metric) -> float:
    """The metric of the run stored at ``path`` (a ``fluorescence_timecourse`` run)."""
    from labctl.data import read_run

    run = read_run(path)
    if "analysis" not in run.streams:
        raise DataError(f"{path}: no analysis stream (masks) to compute {metric.statistic}")
    image = run.stream("primary")["fluo_image"].values[-1]
    analysis = run.stream("analysis")
    roi = analysis["timecourse_roi_mask"].values[0]
    normal = analysis["timecourse_background_mask"].values[0]
    return image_metric(image, roi, normal, metric.statistic)


def _source_value(sf: StudyFile, records: StudyRecords, subject: str, session: str, metric):
    """``(input record, reason)``: the metric of one subject's session, or why not."""
    rec = records.session_record(subject, session)
    if rec is None:
        return None, f"session {session} has not run"
    if rec.get("status") != "success":
        return None, f"session {session} {rec.get('status')}: {rec.get('reason', '')}".strip()
    runs = [r for r in rec.get("runs", []) if r.get("plan") == metric.plan]
    if not runs:
        return None, f"session {session} has no {metric.plan} run"
    try:
        value = run_metric(sf.data_dir / runs[-1]["path"], metric)
    except (DataError, KeyError, OSError) as exc:
        return None, f"session {session}: {exc}"
    if not math.isfinite(value):
        return None, f"session {session}: the metric is not finite"
    return {
        "subject": subject,
        "session": session,
        "uid": runs[-1]["uid"],
        "t_post_injection_s": rec.get("t_post_injection_s"),
        "value": value,
    }, ""


def members(sf: StudyFile, records: StudyRecords, group: str) -> list[str]:
    assigned = records.groups()
    return [s.id for s in sf.study.subjects if assigned.get(s.id, s.group) == group]


def decision_ready(sf: StudyFile, records: StudyRecords, d: Decision) -> bool:
    """True when every source session of every subject of the group has an outcome."""
    ledger = records.ledger()
    return all(
        name in ledger.get(subject, {})
        for subject in members(sf, records, d.group)
        for name in d.sessions
    )


def make_decision(sf: StudyFile, records: StudyRecords, d: Decision) -> dict:
    """Compute, store and return decision ``d`` (its group's sources must be ready)."""
    inputs, blocked = [], {}
    for subject in members(sf, records, d.group):
        for session in d.sessions:
            value, reason = _source_value(sf, records, subject, session, d.metric)
            if value is None:
                blocked[subject] = reason
            else:
                inputs.append(value)
    record = {
        "decision": d.name,
        "kind": d.kind,
        "group": d.group,
        "sessions": list(d.sessions),
        "metric": d.metric.model_dump(),
        "rule": _rule_text(d),
        "inputs": inputs,
        "blocked": blocked,
        "made_after": d.sessions[-1],
    }
    if d.kind == "peak_time":
        record |= _peak_time(d, inputs)
    else:
        record |= _assign(d, inputs, blocked)
        records.assign(record["outcome"]["groups"])
    records.record_decision(d.name, record)
    return record


def _rule_text(d: Decision) -> str:
    if d.kind == "peak_time":
        return f"the session of largest {d.group}-group mean {d.metric.statistic}"
    cuts = ", ".join(f"{c:g}" for c in d.cuts)
    if d.kind == "thresholds":
        return f"{d.metric.statistic} cut at [{cuts}] into {d.assign}"
    return (
        f"strata of {d.metric.statistic} cut at [{cuts}], randomised to {d.assign} (seed {d.seed})"
    )


def _peak_time(d: Decision, inputs: list[dict]) -> dict:
    by_session = {
        s: [i for i in inputs if i["session"] == s and i["t_post_injection_s"] is not None]
        for s in d.sessions
    }
    course = [
        {
            "session": s,
            "t_post_injection_s": float(np.mean([i["t_post_injection_s"] for i in rows])),
            "mean": float(np.mean([i["value"] for i in rows])),
            "sd": float(np.std([i["value"] for i in rows], ddof=1)) if len(rows) > 1 else 0.0,
            "n": len(rows),
        }
        for s, rows in by_session.items()
        if rows
    ]
    if not course:
        return {"status": "blocked", "reason": "no source session has a metric", "outcome": {}}
    peak = max(course, key=lambda c: c["mean"])
    return {
        "status": "made",
        "time_course": course,
        "outcome": {"peak_time_s": peak["t_post_injection_s"], "session": peak["session"]},
    }


def _assign(d: Decision, inputs: list[dict], blocked: dict) -> dict:
    values = {i["subject"]: i["value"] for i in inputs if i["session"] == d.sessions[0]}
    groups: dict[str, str] = {}
    strata: dict[int, list[str]] = {}
    for subject in sorted(values):
        k = bisect.bisect_right(d.cuts, values[subject])
        if d.kind == "thresholds":
            groups[subject] = d.assign[k]
        else:
            strata.setdefault(k, []).append(subject)
    rng = np.random.default_rng(d.seed)
    for k in sorted(strata):
        order = list(rng.permutation(strata[k]))
        offset = int(rng.integers(len(d.assign)))  # no arm favoured by stratum remainders
        for j, subject in enumerate(order):
            groups[str(subject)] = d.assign[(j + offset) % len(d.assign)]
    return {
        "status": "made" if groups else "blocked",
        "reason": "" if groups else "no subject has a metric",
        "outcome": {"groups": groups, "strata": {str(k): v for k, v in strata.items()}},
    }
