"""OA thermometry: Grueneisen model, calibration fit and temperature maps."""

import math

import numpy as np
import pytest

from labctl.analysis.oa_thermometry import (
    OAThermometryCalibration,
    calibrate_oa_thermometry,
    grueneisen_water,
    signal_ratio,
    temperature_map,
    theoretical_slope_per_K,
)


def test_water_like_grueneisen_slope():
    assert grueneisen_water(37.0) == pytest.approx(0.2004)
    assert theoretical_slope_per_K(37.0) == pytest.approx(0.0053 / 0.2004)


def test_calibration_recovers_a_linear_response_and_inverts():
    rng = np.random.default_rng(3)
    T = np.linspace(37.0, 43.0, 40)
    slope = 0.031  # a tissue with a steeper Grueneisen response than water
    ratios = 1.0 + slope * (T - 37.0) + 0.001 * rng.standard_normal(T.size)
    cal = calibrate_oa_thermometry(ratios, T + 0.05 * rng.standard_normal(T.size), T0_C=37.0)
    assert cal.slope_per_K == pytest.approx(slope, rel=0.03)
    assert cal.offset == pytest.approx(1.0, abs=0.003)
    assert cal.residual_C < 0.15 and cal.r_squared > 0.99
    assert cal.temperature(1.0 + slope * 4.0) == pytest.approx(41.0, abs=0.1)
    assert cal.as_dict()["n_points"] == 40


def test_reference_from_another_session_is_rescaled():
    """S is proportional to Gamma(T): a baseline at 38 C gives the same temperatures."""
    cal = OAThermometryCalibration.theoretical(37.0)
    gamma = grueneisen_water
    ratio_38 = gamma(41.0) / gamma(38.0)  # heated to 41 C, reference image at 38 C
    assert cal.temperature(ratio_38, reference_C=38.0) == pytest.approx(41.0, abs=1e-9)
    assert cal.temperature(gamma(40.0) / gamma(37.0)) == pytest.approx(40.0, abs=1e-9)


def test_calibration_refuses_too_little_data():
    with pytest.raises(ValueError, match="3 points"):
        calibrate_oa_thermometry([1.0, 1.01], [37.0, 38.0])
    with pytest.raises(ValueError, match="spanning"):
        calibrate_oa_thermometry([1.0, 1.0, 1.0], [37.0, 37.1, 37.2])
    with pytest.raises(ValueError, match="does not rise"):
        calibrate_oa_thermometry([1.0, 0.98, 0.96], [37.0, 38.0, 39.0])


def test_signal_ratio_and_temperature_map():
    base = np.full((20, 20), 2.0)
    base[:, :2] = 0.0  # no signal there: no temperature
    hot = base * grueneisen_water(np.linspace(37, 41, 20))[None, :] / grueneisen_water(37.0)
    roi = np.zeros((20, 20), bool)
    roi[5:10, 10:12] = True
    assert signal_ratio(hot, base, roi) == pytest.approx(hot[roi].mean() / 2.0)
    cal = OAThermometryCalibration.theoretical(37.0)
    T = temperature_map(hot, base, cal, smooth_px=0.0)
    assert np.isnan(T[:, :2]).all()
    assert T[:, 2:] == pytest.approx(np.broadcast_to(np.linspace(37, 41, 20)[2:], (20, 18)))
    with pytest.raises(ValueError, match="shape"):
        signal_ratio(hot, base[:5])
    assert math.isnan(signal_ratio(hot, base, np.zeros((20, 20), bool)))


def test_held_out_points_span_the_same_range_and_measure_the_model_error():
    from labctl.analysis.oa_thermometry import held_out_errors, split_for_validation

    fit, held = split_for_validation(9)
    assert fit.tolist() == [0, 2, 4, 6, 8] and held.tolist() == [1, 3, 5, 7]
    # a curved signal (slope falling by 10 % over 8 C) fitted with the linear law: the
    # held-out error is the curvature's, not zero, and not the fit residual at the points
    T = np.linspace(37.0, 45.0, 41)
    ratio = 1 + 0.025 * (T - 37) - 0.000156 * (T - 37) ** 2
    f, h = split_for_validation(T.size)
    cal = calibrate_oa_thermometry(ratio[f], T[f], T0_C=37.0)
    err = held_out_errors(cal, ratio[h], T[h])
    assert err.size == h.size
    assert 0.02 < np.max(np.abs(err)) < 0.3
    assert held_out_errors(cal, [np.nan, ratio[1]], [37.2, T[1]]).size == 1
