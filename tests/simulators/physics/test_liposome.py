"""Thermosensitive liposomes: release rate, exact compartments, self-quenched readout."""

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from labctl.simulators.physics.liposome import LiposomeParams, LiposomeState, release_rate

P = LiposomeParams()


def test_release_is_steep_around_the_transition_and_absent_without_thermosensitivity():
    k37, k41, k415, k42 = (release_rate(P, T) for T in (37.0, 41.0, 41.5, 42.0))
    assert k37 == pytest.approx(math.log(2) / (12 * 3600), rel=1e-3)
    assert k415 == pytest.approx((P.k_max_per_s + P.k_37_per_s) / 2)
    assert k42 / k41 > 5 and k41 / k37 > 200
    # about half of the contents within ~20 s at 42 C (Needham et al. 2000)
    assert 1 - math.exp(-k42 * 20) == pytest.approx(0.5, abs=0.1)
    nts = LiposomeParams(thermosensitive=False)
    assert release_rate(nts, 43.0) == release_rate(nts, 37.0) == P.k_37_per_s


def test_the_exact_step_matches_a_numerical_integration_through_a_heating():
    k = (math.log(2) / (6 * 3600), 0.0045 / 3600, math.log(2) / (77 * 3600))
    s = LiposomeState(P, *k)
    s.inject(1.0)
    t = np.arange(0, 1201, 10.0)
    T = 37.0 + 5.5 * np.clip(t / 300, 0, 1)  # ramp to 42.5 C, then hold
    s.advance(24 * 3600.0)
    x0 = s.x.copy()
    s.follow(t, T)

    def rhs(time, x):
        i = min(np.searchsorted(t, time, side="right") - 1, len(t) - 2)
        return s._matrix(T[i]) @ x

    ref = solve_ivp(rhs, (0, t[-1]), x0, max_step=1.0, rtol=1e-9, atol=1e-14)
    assert s.x == pytest.approx(ref.y[:, -1], rel=1e-5)


def test_heat_releases_most_cargo_and_dequenches_the_fluorescence():
    k = (math.log(2) / (6 * 3600), 0.0045 / 3600, math.log(2) / (77 * 3600))
    heated, control, nts = (
        LiposomeState(P, *k),
        LiposomeState(P, *k),
        LiposomeState(LiposomeParams(thermosensitive=False), *k),
    )
    for s in (heated, control, nts):
        s.inject(1.0)
        s.advance(24 * 3600.0)
    before = heated.emission()
    assert heated.released_fraction() < 0.05  # leaked cargo washes out between sessions
    heated.advance(600.0, 42.5)
    control.advance(600.0, 37.0)
    nts.advance(600.0, 42.5)
    assert heated.released_fraction() > 0.8
    assert control.released_fraction() < 0.1 and nts.released_fraction() < 0.1
    # dequenching, beyond 1/q: liposomes flowing through the heated vessels add cargo
    assert heated.emission() / before > 10
    assert control.emission() / before == pytest.approx(1.0, abs=0.05)
    with pytest.raises(ValueError):
        heated.advance(-1.0)
    with pytest.raises(ValueError):
        LiposomeParams(quench=1.5)
