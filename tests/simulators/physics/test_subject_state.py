"""Simulated subjects: seeded draws, analytic agent state, growth and persistence."""

import math

import numpy as np
import pytest

from labctl.simulators.physics.agent import AgentKinetics, AgentParams
from labctl.simulators.physics.subject_state import SubjectState, lognormal_factor
from labctl.simulators.physics.tumor import MouseTumor, TumorParams

H = 3600.0
CV = {"k_trans": 0.3, "plasma_half_life": 0.1, "perfusion": 0.2, "tumor_diameter": 0.1}


def test_lognormal_factors_have_median_one_and_the_given_spread():
    rng = np.random.default_rng(3)
    x = np.array([lognormal_factor(rng, 0.3) for _ in range(20000)])
    assert np.median(x) == pytest.approx(1.0, abs=0.02)
    assert x.std() / x.mean() == pytest.approx(0.3, abs=0.02)
    assert lognormal_factor(rng, 0.0) == 1.0


def test_draws_are_reproducible_per_subject_and_differ_between_subjects():
    kw = dict(cv=CV, diameter_mm=6.0, doubling_d=3.0, body_mass_g=25.0)
    a1 = SubjectState.draw("A", 7, 0, **kw)
    a2 = SubjectState.draw("A", 7, 0, **kw)
    b = SubjectState.draw("B", 7, 1, **kw)
    assert a1 == a2
    assert a1.k_trans_factor != b.k_trans_factor


def test_a_session_24_h_later_sees_what_accumulated_since_the_injection():
    s = SubjectState("M1", k_trans_factor=1.5, body_mass_g=25.0)
    s.administer(2 * H, 2.0, {"absorber": "icg"})
    t = 26 * H
    sample = s.sample_overrides(t, {"kind": "mouse_tumor", "perfusion_tumor": 2e-3})
    assert sample["agent_injected_h_before"] == pytest.approx(24.0)
    assert sample["agent_dose"] == 2.0
    assert sample["agent"]["k_trans_per_h"] == pytest.approx(1.5 * AgentParams().k_trans_per_h)
    # the bench's sample built from it holds the same tumor concentration as the state
    params = TumorParams(
        agent=AgentParams(**sample["agent"]), agent_dose=2.0, agent_injected_h_before=24.0
    )
    tumor = MouseTumor(params)
    assert tumor.agent.tumor(0.0) == pytest.approx(s.snapshot(t)["agent_tumor"], rel=1e-9)
    # and that is the Bateman function 24 h after the bolus
    kin = AgentKinetics(AgentParams(**sample["agent"]), body_mass_g=25.0)
    kin.inject(0.0, 2.0)
    assert s.snapshot(t)["agent_tumor"] == pytest.approx(kin.tumor(24 * H))


def test_cleared_agent_goes_to_the_organs_and_the_tumor_grows():
    s = SubjectState("M1", diameter0_mm=6.0, doubling_d=3.0, res_fraction=0.8)
    s.administer(0.0, 2.0, {"absorber": "icg"})
    snap = s.snapshot(30 * 86400.0)  # long after: nearly all cleared
    assert snap["agent_organs_amount"] == pytest.approx(0.8 * snap["agent_given_amount"], rel=1e-3)
    assert s.tumor_volume_mm3(3 * 86400.0) == pytest.approx(2 * s.tumor_volume_mm3(0.0))
    assert s.tumor_diameter_mm(0.0) == 6.0


def test_state_survives_a_save_and_load_and_never_goes_back(tmp_path):
    s = SubjectState("M1")
    s.administer(0.0, 2.0, {"absorber": "icg"})
    s.record_heat("treat", 86400.0, 43.2, 12.5)
    s.advance(90000.0)
    s.save(tmp_path / "M1.json")
    back = SubjectState.load(tmp_path / "M1.json")
    assert back == s
    assert back.snapshot(90000.0)["cem43_total_min"] == 12.5
    with pytest.raises(ValueError, match="before"):
        back.advance(100.0)
    with pytest.raises(ValueError):
        back.administer(0.0, math.nan, {})
