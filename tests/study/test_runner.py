"""End to end: accumulation-then-hyperthermia on the simulated twin, checked against the
simulated animals' truth and the stored data."""

import json
import os

import numpy as np
import pytest

from labctl.config.study_file import Metric, load_study
from labctl.core.errors import ConfigError
from labctl.data import read_run
from labctl.simulators.physics.subject_state import SubjectState
from labctl.study.decisions import run_metric
from labctl.study.records import StudyRecords
from labctl.study.runner import run_study
from labctl.study.status import format_status, study_runs

H = 3600.0
# the whole study runs in the module fixture, inside the first test's time limit
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def ath(studies, tmp_path_factory):
    os.environ["LABCTL_CATALOG"] = str(tmp_path_factory.mktemp("cat") / "catalog.json")
    path = studies / "accumulation-then-hyperthermia.yaml"
    out = run_study(path, sim=True, quiet=True)
    return path, out


def test_every_session_of_every_subject_ran_with_its_time_post_injection(ath):
    path, out = ath
    assert out.ok and out.blocked == {}
    sf = load_study(path)
    runs = study_runs(str(path), [])
    # pilot: 4 imaging sessions x 2 runs; treated: imaging (2 runs) + treatment (1 run)
    assert len(runs) == 3 * 4 * 2 + 3 * 3
    for r in runs:
        s = r.start
        assert s["study"] == "ATH-demo" and s["subject"] in {x.id for x in sf.study.subjects}
        assert s["group"] == sf.subject(s["subject"]).group
        assert s["t_post_injection_s"] > 0 and s["session"]
    pilot = {(r.start["subject"], r.start["session"]): r.start for r in runs}
    assert pilot[("P02", "img-4h")]["t_post_injection_s"] == 4 * H
    assert all(r.path.resolve().is_relative_to(sf.data_dir.resolve()) for r in runs)


def test_treated_at_the_peak_found_from_the_pilot_groups_stored_images(ath):
    path, _ = ath
    sf = load_study(path)
    records = StudyRecords(sf.data_dir)
    decision = records.decision("peak")
    # recompute the pilot's mean time course from the stored fluorescence images
    course = {}
    for r in study_runs(str(path), [], group="pilot"):
        if r.plan_name == "fluorescence_timecourse":
            value = run_metric(r.path, Metric(statistic="specific"))
            course.setdefault(r.start["t_post_injection_s"], []).append(value)
    means = {t: np.mean(v) for t, v in course.items()}
    assert sorted(means) == [1 * H, 4 * H, 24 * H, 48 * H]
    peak = max(means, key=means.get)
    assert decision["outcome"]["peak_time_s"] == peak
    stored = {c["t_post_injection_s"]: c["mean"] for c in decision["time_course"]}
    assert stored == pytest.approx(means)
    # the simulated animals' true tumor concentration peaks at the same sampled time
    truth = {t: 0.0 for t in means}
    for subj in ("P01", "P02", "P03"):
        state = SubjectState.load(records.subject_path(subj))
        kin = state.kinetics()
        for t in truth:
            truth[t] += kin.tumor(t)
    assert max(truth, key=truth.get) == peak == 24 * H
    # every treated subject: imaged 30 min before, treated at the peak time p.i.
    for r in study_runs(str(path), [], group="treated"):
        expected = peak - 1800 if r.start["session"] == "pre-treatment" else peak
        assert r.start["t_post_injection_s"] == expected
        if r.plan_name == "magnetic_hyperthermia":
            T = read_run(r.path).stream("primary")["thermo_tumor"].values
            assert 42.5 < np.nanmax(T) < 44.0


def test_subject_state_persists_heat_and_time_between_sessions(ath):
    path, _ = ath
    records = StudyRecords(load_study(path).data_dir)
    state = SubjectState.load(records.subject_path("T01"))
    assert [h["session"] for h in state.heat] == ["treatment"]
    assert state.heat[0]["cem43_min"] > 5.0
    assert state.t_s > 24 * H + 600  # the treatment's own duration is on the clock
    pilot = SubjectState.load(records.subject_path("P01"))
    assert pilot.heat == [] and pilot.t_s >= 48 * H


def test_status_rerun_and_the_lock(ath):
    path, _ = ath
    text = "\n".join(format_status(path, now=0.0))
    assert text.count(" done ") == 3 * 4 + 3 * 2
    assert "decision peak: made" in text
    again = run_study(path, sim=True, quiet=True)  # nothing left to run
    assert again.ran == []
    records = StudyRecords(load_study(path).data_dir)
    ledger = json.dumps(records.ledger(), sort_keys=True)
    with records.lock("ATH-demo"), pytest.raises(ConfigError, match="being run by another"):
        run_study(path, sim=True, quiet=True)
    assert json.dumps(records.ledger(), sort_keys=True) == ledger  # nothing lost
    assert not records.lock("ATH-demo").path.exists()
