"""Decisions from stored data: the stratified-cohort example, a failed source session,
and stratified randomisation."""

import json
import os

import numpy as np
import pytest

from labctl.config.study_file import Decision, Metric, load_study
from labctl.study import decisions
from labctl.study.decisions import image_metric, make_decision, run_metric
from labctl.study.records import StudyRecords
from labctl.study.runner import run_study
from labctl.study.status import study_runs


def test_image_metrics_over_masks():
    image = np.full((4, 4), 10.0)
    image[:2, :2] = 30.0
    roi = np.zeros((4, 4), bool)
    roi[:2, :2] = True
    assert image_metric(image, roi, ~roi, "specific") == 20.0
    assert image_metric(image, roi, ~roi, "tnr") == 3.0


def rule(value, cuts, groups):
    return groups[sum(value >= c for c in cuts)]


@pytest.fixture(scope="module")
def cohort(studies, tmp_path_factory):
    os.environ["LABCTL_CATALOG"] = str(tmp_path_factory.mktemp("cat") / "catalog.json")
    path = studies / "stratified-cohort.yaml"
    out = run_study(path, sim=True, quiet=True)
    return path, out


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the whole study runs in the module fixture
def test_each_subjects_group_is_the_rule_applied_to_its_stored_image(cohort):
    path, out = cohort
    assert out.ok and out.blocked == {}
    sf = load_study(path)
    records = StudyRecords(sf.data_dir)
    decision = records.decision("strata")
    groups = records.groups()
    recomputed = {
        r.start["subject"]: run_metric(r.path, Metric(statistic="tnr"))
        for r in study_runs(str(path), [])
        if r.start["session"] == "baseline-24h"
    }
    assert set(recomputed) == {s.id for s in sf.study.subjects}
    for subject, value in recomputed.items():
        assert groups[subject] == rule(value, [2.2, 2.6], ["low", "mid", "high"])
    assert {i["subject"]: i["value"] for i in decision["inputs"]} == pytest.approx(recomputed)
    assert len(set(groups.values())) >= 2  # the cohort really splits
    # treatment by group: heat for mid and high, a follow-up image for low
    sessions = {(r.start["subject"], r.start["session"]) for r in study_runs(str(path), [])}
    for subject, group in groups.items():
        wanted = {"low": "follow-up-48h", "mid": "heat-mid", "high": "heat-high"}[group]
        assert (subject, wanted) in sessions
        others = {"follow-up-48h", "heat-mid", "heat-high"} - {wanted}
        assert not any((subject, o) in sessions for o in others)
    for r in study_runs(str(path), []):
        if r.start["session"] != "baseline-24h":
            assert r.start["group"] == groups[r.start["subject"]]


@pytest.mark.slow
def test_a_failed_source_session_blocks_only_its_subject(cohort, tmp_path):
    path, _ = cohort
    sf = load_study(path)
    records = StudyRecords(sf.data_dir)
    before = records.groups()
    ledger = records.ledger()
    ledger["C01"]["baseline-24h"]["status"] = "failed"
    ledger["C01"]["baseline-24h"]["reason"] = "InstrumentError: camera did not answer"
    copy = StudyRecords(tmp_path)
    copy.ledger_path.parent.mkdir(parents=True)
    copy.ledger_path.write_text(json.dumps(ledger))
    sf.study.data_dir = str(sf.data_dir.resolve())  # the runs stay where they are
    record = make_decision(sf, copy, sf.study.decisions[0])
    assert list(record["blocked"]) == ["C01"]
    assert "camera did not answer" in record["blocked"]["C01"]
    assert "C01" not in record["outcome"]["groups"]
    assert record["outcome"]["groups"] == {k: v for k, v in before.items() if k != "C01"}
    assert copy.decision("strata")["inputs"] == record["inputs"]


def test_stratified_randomisation_balances_arms_within_strata():
    values = {f"M{i:02d}": v for i, v in enumerate([0.2, 0.3, 0.4, 0.45, 0.8, 0.9, 0.95, 0.85])}
    d = Decision(
        name="r",
        kind="stratified",
        group="cohort",
        sessions=["img"],
        cuts=[0.5],
        assign=["heat", "sham"],
        seed=4,
    )
    inputs = [{"subject": s, "session": "img", "value": v} for s, v in values.items()]
    out = decisions._assign(d, inputs, {})
    groups = out["outcome"]["groups"]
    assert set(groups) == set(values)
    strata = out["outcome"]["strata"]
    assert sorted(map(sorted, strata.values())) == [
        ["M00", "M01", "M02", "M03"],
        ["M04", "M05", "M06", "M07"],
    ]
    for stratum in strata.values():
        arms = [groups[s] for s in stratum]
        assert arms.count("heat") == arms.count("sham")
    assert decisions._assign(d, inputs, {}) == out  # the seed fixes it
    other = Decision(**{**d.model_dump(), "seed": 5})
    outcomes = {str(decisions._assign(other, inputs, {})["outcome"]["groups"])}
    outcomes.add(str(groups))
    assert len(outcomes) == 2  # and another seed draws another allocation
