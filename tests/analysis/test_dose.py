"""CEM43 thermal dose (Sapareto & Dewey 1984) against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labctl.analysis.dose import (
    CEM43Accumulator,
    cem43,
    cem43_constant,
    cem43_cumulative,
    cem43_rate,
    time_to_dose_min,
)


def constant_record(T_C: float, minutes: float, dt_s: float = 1.0) -> tuple[np.ndarray, ...]:
    t = np.arange(0.0, minutes * 60.0 + dt_s / 2, dt_s)
    return t, np.full(t.size, T_C)


@pytest.mark.parametrize(
    ("T_C", "minutes", "expected"),
    [(43.0, 60.0, 60.0), (44.0, 30.0, 60.0), (42.0, 60.0, 15.0), (45.0, 10.0, 40.0)],
)
@pytest.mark.parametrize("rule", ["left", "trapezoid"])
def test_physics_checks(T_C: float, minutes: float, expected: float, rule: str) -> None:
    t, T = constant_record(T_C, minutes)
    assert cem43(t, T, rule=rule) == pytest.approx(expected, rel=1e-12)
    assert cem43_constant(T_C, minutes) == pytest.approx(expected, rel=1e-12)


def test_rate_branches() -> None:
    assert cem43_rate(43.0) == 1.0
    assert cem43_rate(41.0) == pytest.approx(1 / 16)
    assert cem43_rate(47.0) == pytest.approx(16.0)
    np.testing.assert_allclose(cem43_rate(np.array([40.0, 46.0])), [1 / 64, 8.0])


def test_time_to_dose() -> None:
    assert time_to_dose_min(43.0) == pytest.approx(60.0)
    assert time_to_dose_min(45.0, 240.0) == pytest.approx(60.0)
    assert time_to_dose_min(41.0, 60.0) == pytest.approx(960.0)
    with pytest.raises(ValueError):
        time_to_dose_min(43.0, -1.0)


def test_left_vs_trapezoid_on_a_step() -> None:
    # 42 C at t=0, 44 C at t=60 s: left uses 42 C for the interval, trapezoid the mean rate.
    t, T = np.array([0.0, 60.0]), np.array([42.0, 44.0])
    assert cem43(t, T, rule="left") == pytest.approx(0.25)
    assert cem43(t, T, rule="trapezoid") == pytest.approx((0.25 + 2.0) / 2)


def test_irregular_sampling_of_a_linear_ramp_converges_to_integral() -> None:
    # Ramp 40 -> 46 C over 30 min, irregular samples; exact integral of R^(43-T) in closed form.
    rng = np.random.default_rng(1)
    t = np.sort(np.concatenate(([0.0, 1800.0], rng.uniform(0, 1800.0, 4000))))
    T = 40.0 + 6.0 * t / 1800.0
    a = 6.0 / 30.0  # C per min
    below = (1.0 - 0.25**3) / (a * np.log(4.0))  # integral 40 -> 43 C of 4^(T-43) dT / a
    above = (2.0**3 - 1.0) / (a * np.log(2.0))  # integral 43 -> 46 C of 2^(T-43) dT / a
    exact = below + above
    assert cem43(t, T, rule="trapezoid") == pytest.approx(exact, rel=1e-4)
    assert cem43(t, T, rule="left") == pytest.approx(exact, rel=5e-3)
    assert cem43(t, T, rule="left") < exact  # left rule lags a rising temperature


def test_nan_samples_are_bridged_and_gaps_can_be_excluded() -> None:
    t, T = constant_record(43.0, 10.0)
    T[100:200] = np.nan
    assert cem43(t, T) == pytest.approx(10.0)
    t2 = np.array([0.0, 60.0, 600.0, 660.0])
    T2 = np.full(4, 43.0)
    assert cem43(t2, T2) == pytest.approx(11.0)
    assert cem43(t2, T2, max_gap_s=120.0) == pytest.approx(2.0)


@pytest.mark.parametrize("rule", ["left", "trapezoid"])
@pytest.mark.parametrize("max_gap_s", [None, 5.0])
def test_accumulator_equals_array_exactly(rule: str, max_gap_s: float | None) -> None:
    rng = np.random.default_rng(5)
    dt = rng.exponential(1.0, 3000)
    t = 1.7e9 + np.cumsum(dt)
    T = 41.0 + 3.0 * np.sin(np.arange(t.size) / 300.0) + 0.05 * rng.standard_normal(t.size)
    T[rng.integers(0, t.size, 50)] = np.nan
    acc = CEM43Accumulator(rule=rule, max_gap_s=max_gap_s)
    live = np.array([acc.add(ti, Ti) for ti, Ti in zip(t, T, strict=True)])
    total = cem43(t, T, rule=rule, max_gap_s=max_gap_s)
    assert acc.value_min == total  # exact, not approx
    np.testing.assert_array_equal(live, cem43_cumulative(t, T, rule=rule, max_gap_s=max_gap_s))
    assert acc.n_samples == np.count_nonzero(np.isfinite(T))
    acc.reset()
    assert acc.value_min == 0.0 and acc.last_t_s is None


def test_cumulative_leading_nan_and_empty() -> None:
    out = cem43_cumulative([0.0, 60.0, 120.0], [np.nan, 43.0, 43.0])
    np.testing.assert_allclose(out, [0.0, 0.0, 1.0])
    assert cem43([], []) == 0.0
    assert cem43_cumulative([], []).size == 0


def test_errors() -> None:
    with pytest.raises(ValueError, match="non-decreasing"):
        cem43([0.0, 2.0, 1.0], [43.0, 43.0, 43.0])
    with pytest.raises(ValueError, match="rule"):
        cem43([0.0, 1.0], [43.0, 43.0], rule="simpson")
    acc = CEM43Accumulator()
    acc.add(10.0, 43.0)
    with pytest.raises(ValueError, match="before the previous"):
        acc.add(5.0, 43.0)


# -- dose of a volume -----------------------------------------------------------------
def test_temperature_exceeded_by_weights_elements_by_volume():
    from labctl.analysis.dose import temperature_exceeded_by

    T = np.array([45.0, 43.0, 41.0, 39.0])
    assert temperature_exceeded_by(T, None, 0.5) == 43.0  # 2 of 4 elements at >= 43
    assert temperature_exceeded_by(T, None, 0.9) == 39.0
    assert temperature_exceeded_by(T, None, 0.75) == 41.0
    # the coolest element holds 80 % of the volume: 90 % of it reaches only 39 C
    assert temperature_exceeded_by(T, [0.05, 0.05, 0.1, 0.8], 0.9) == 39.0
    assert temperature_exceeded_by(T, [0.05, 0.05, 0.1, 0.8], 0.2) == 41.0
    assert temperature_exceeded_by([np.nan, 42.0], None, 0.9) == 42.0
    with pytest.raises(ValueError):
        temperature_exceeded_by(T, None, 0.0)


def test_arrhenius_damage_hand_values():
    from labctl.analysis.dose import arrhenius_damage

    # Henriques: rate A exp(-Ea / R T); at 60 C: 3.1e98 exp(-6.28e5 / (8.314462618 * 333.15))
    rate_60 = 3.1e98 * math.exp(-6.28e5 / (8.314462618 * 333.15))
    t = np.arange(0.0, 11.0)
    assert arrhenius_damage(t, np.full(t.size, 60.0)) == pytest.approx(10 * rate_60, rel=1e-12)
    assert 0.5 < rate_60 < 2.0  # about 1/s: a second at 60 C is 63 % damage
    # 30 min at 43 C does essentially no damage; 10 s at 70 C destroys tissue
    t30 = np.arange(0.0, 1801.0)
    assert arrhenius_damage(t30, np.full(t30.size, 43.0)) < 0.05
    assert arrhenius_damage(t, np.full(t.size, 70.0)) > 100.0


def test_volume_dose_uses_the_t90_record():
    from labctl.analysis.dose import cem43, volume_dose

    t = np.arange(0.0, 3601.0, 1.0)
    T90 = np.where(t < 600, 37.0, 41.0)
    T50 = np.where(t < 600, 37.0, 42.0)
    d = volume_dose(t, T90, T50, T50 + 1.0, hold_from_s=600.0)
    assert d["T90_C"] == 41.0 and d["T50_C"] == 42.0
    assert d["cem43_T90_min"] == pytest.approx(cem43(t, T90))
    assert d["cem43_T90_min"] == pytest.approx(50 * 0.25**2, rel=1e-3)  # 50 min at 41 C
    assert d["arrhenius_omega_max"] > d["arrhenius_omega_T90"] > 0
