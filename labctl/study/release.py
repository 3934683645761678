"""Released fraction per subject and per group from two sessions' stored images.

For each subject with a ``fluorescence_timecourse`` run in both sessions, the specific
tumor fluorescence (:func:`~.decisions.image_metric`) before and after gives the released
fraction (:func:`labctl.analysis.release.released_fraction`) with the quench of the
subject's liposome (the administration's ``carrier.quench``).
"""

from __future__ import annotations

import numpy as np

from labctl.config.study_file import Metric, StudyFile
from labctl.study import schedule
from labctl.study.decisions import _source_value
from labctl.study.records import StudyRecords

__all__ = ["release_table", "format_release"]


def _quench(sf: StudyFile, group: str) -> float | None:
    from labctl.simulators.physics.liposome import LiposomeParams

    adm = schedule.administrations_of(sf, group)
    if not adm or adm[-1][1].carrier is None:
        return None
    return LiposomeParams(**adm[-1][1].carrier).quench


def release_table(sf: StudyFile, records: StudyRecords, before: str, after: str) -> dict:
    """``{"subjects": [...], "groups": {group: {mean, sd, n}}}``; subjects without both
    images or without a liposome carrier are listed with the reason."""
    metric = Metric(statistic="specific")
    rows = []
    for subj in sf.study.subjects:
        group = schedule.subject_group(sf, records, subj.id)
        row = {"subject": subj.id, "group": group}
        q = _quench(sf, group)
        a, why_a = _source_value(sf, records, subj.id, before, metric)
        b, why_b = _source_value(sf, records, subj.id, after, metric)
        if q is None or a is None or b is None:
            row["reason"] = why_a or why_b or "no liposome carrier"
        else:
            from labctl.analysis.release import released_fraction

            row |= {
                "s_before": a["value"],
                "s_after": b["value"],
                "released_fraction": released_fraction(a["value"], b["value"], q),
            }
        rows.append(row)
    groups = {}
    for g in sf.study.groups:
        f = [r["released_fraction"] for r in rows if r["group"] == g and "released_fraction" in r]
        if f:
            sd = float(np.std(f, ddof=1)) if len(f) > 1 else 0.0
            groups[g] = {"mean": float(np.mean(f)), "sd": sd, "n": len(f)}
    return {"subjects": rows, "groups": groups}


def format_release(table: dict) -> list[str]:
    lines = [f"{'subject':<8}  {'group':<12}  {'before':>9}  {'after':>9}  released fraction"]
    for r in table["subjects"]:
        if "released_fraction" in r:
            lines.append(
                f"{r['subject']:<8}  {r['group']:<12}  {r['s_before']:9.1f}  "
                f"{r['s_after']:9.1f}  {r['released_fraction']:.3f}"
            )
        else:
            lines.append(f"{r['subject']:<8}  {r['group']:<12}  -- {r['reason']}")
    for g, s in table["groups"].items():
        lines.append(
            f"group {g:<12} released fraction {s['mean']:.3f} +/- {s['sd']:.3f} (n={s['n']})"
        )
    return lines
