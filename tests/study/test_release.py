"""End to end: thermosensitive-release, three arms, released fraction from stored images
against the simulated animals' cargo."""

import os

import numpy as np
import pytest

from labctl.config.study_file import load_study
from labctl.simulators.physics.subject_state import SubjectState
from labctl.study.records import StudyRecords
from labctl.study.release import format_release, release_table
from labctl.study.runner import run_study


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_heated_thermosensitive_liposomes_release_clearly_more(studies, tmp_path_factory):
    os.environ["LABCTL_CATALOG"] = str(tmp_path_factory.mktemp("cat") / "catalog.json")
    path = studies / "thermosensitive-release.yaml"
    out = run_study(path, sim=True, quiet=True)
    assert out.ok and out.blocked == {}
    sf = load_study(path)
    records = StudyRecords(sf.data_dir)
    arms = ("tsl-heat", "tsl-noheat", "ntsl-heat")
    assert all(sum(s.group == a for s in sf.study.subjects) >= 3 for a in arms)
    table = release_table(sf, records, "pre-heat", "post-heat")
    print("\n" + "\n".join(format_release(table)))
    g = table["groups"]
    heated = g["tsl-heat"]
    for control in ("tsl-noheat", "ntsl-heat"):
        # clearly more: apart by several spreads of both arms
        gap = heated["mean"] - g[control]["mean"]
        assert gap > 3 * (heated["sd"] + g[control]["sd"]), (heated, g[control])
    # the simulated animals: heated thermosensitive cargo mostly released, controls not
    for row in table["subjects"]:
        if row["group"] not in arms:
            continue
        state = SubjectState.load(records.subject_path(row["subject"]))
        truth = state.liposome(state.t_s).released_fraction()
        if row["group"] == "tsl-heat":
            assert truth > 0.5 and [h["session"] for h in state.heat] == ["heat"]
        else:
            assert truth < 0.1
    # every heated thermosensitive animal shows a release of its own
    f = [r["released_fraction"] for r in table["subjects"] if r["group"] == "tsl-heat"]
    assert np.all(np.asarray(f) > 0)
