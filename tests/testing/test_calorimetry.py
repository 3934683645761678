"""The calorimetric uncertainties cover the simulator's truth (a smaller version of
benchmarks/bench_coverage.py)."""

import numpy as np

from labctl.analysis.pce import PCEInputs
from labctl.testing.calorimetry import pce_repeat, sar_repeat

N = 10


def test_sar_budgets_cover_the_truth_on_the_vial_with_wall_lag():
    runs = [sar_repeat(seed) for seed in range(N)]
    for method in ("initial_slope", "corrected_slope", "box_lucas"):
        rows = np.array([r[method] for r in runs])
        est, u95, truth = rows.T
        assert np.sum(np.abs(est - truth) <= u95) >= N - 2, method
        # the wall lag makes every lumped method read high (Wildeboer et al. 2014)
        assert np.mean(est / truth) > 1.0, method


def test_the_fit_alone_does_not_cover_the_wall_lag():
    from labctl.analysis.sar import CalorimetryUncertainty

    fit_only = CalorimetryUncertainty(heat_capacity_rel=0.0, iron_mass_rel=0.0, field_rel=0.0)
    rows = np.array([sar_repeat(s, unc=fit_only)["box_lucas"] for s in range(4)])
    est, u95, truth = rows.T
    assert np.sum(np.abs(est - truth) <= u95) == 0


def test_pce_uncertainty_covers_and_exact_inputs_recover_eta():
    rows = np.array([pce_repeat(seed) for seed in range(4)])
    est, u95, truth = rows.T
    assert np.sum(np.abs(est - truth) <= u95) >= 3
    exact = PCEInputs(power_rel=0.0, heat_capacity_rel=0.0, absorbance_std=0.0)
    eta, _, true_eta = pce_repeat(0, inputs=exact)
    assert abs(eta / true_eta - 1) < 0.02
