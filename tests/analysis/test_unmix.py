"""Unmixing, sO2, ROIs and fluence compensation against closed-form cases."""

import math

import numpy as np
import pytest
from scipy.optimize import nnls

from labctl.analysis.unmix import (
    absorption_from_p0,
    circle_mask,
    diffuse_fluence,
    reduced_scattering,
    roi_stats,
    so2,
    threshold_roi,
    unmix_spectra,
)
from labctl.simulators.physics import optics

WL = np.arange(700.0, 901.0, 20.0)


def library(names=("Hb", "HbO2", "icg")):
    return {n: optics.extinction(n, WL) for n in names}


def test_nnls_is_exact_against_scipy():
    rng = np.random.default_rng(1)
    A = rng.random((12, 4))
    C = rng.random((4, 300)) - 0.3
    Y = A @ C + 0.05 * rng.standard_normal((12, 300))
    got = unmix_spectra(Y, {str(i): A[:, i] for i in range(4)}, decadic=False)
    ref = np.array([nnls(A, Y[:, j])[0] for j in range(300)]).T
    assert np.stack([got[str(i)] for i in range(4)]) == pytest.approx(ref, abs=1e-10)
    assert (got["0"] >= 0).all()
    free = unmix_spectra(Y, {str(i): A[:, i] for i in range(4)}, decadic=False, nonnegative=False)
    assert (free["0"] < 0).any()


def test_unmixing_recovers_a_known_mixture_and_so2():
    hb, hbo2 = 0.4 * 2.3e-3 * 0.05, 0.6 * 2.3e-3 * 0.05  # 5 % blood at sO2 0.6, mol/L
    icg = np.linspace(0, 2e-6, 50).reshape(5, 10)
    concentrations = {"Hb": hb, "HbO2": hbo2, "icg": icg}
    stack = np.stack([optics.mu_a(w, concentrations) for w in WL]) + 0.05
    out = unmix_spectra(stack, library(), background=True)
    assert out["icg"] == pytest.approx(icg, abs=1e-12)
    assert out["background"] == pytest.approx(0.05, abs=1e-9)
    assert out.so2() == pytest.approx(0.6, abs=1e-9)
    assert out.residual.max() < 1e-9
    assert out.names == ["Hb", "HbO2", "icg", "background"]


def test_unmixing_checks_its_input():
    with pytest.raises(ValueError, match="values for"):
        unmix_spectra(np.zeros((len(WL), 2, 2)), {"Hb": [1.0, 2.0]})
    with pytest.raises(ValueError, match="linearly dependent"):
        unmix_spectra(np.zeros((len(WL), 2)), {"a": np.ones(len(WL)), "b": 2 * np.ones(len(WL))})
    with pytest.raises(ValueError, match="cannot be unmixed"):
        unmix_spectra(np.zeros((2, 3)), {"a": [1, 2], "b": [2, 1]}, background=True)


def test_so2_and_roi_helpers():
    assert so2(np.array([1.0, 0.0]), np.array([3.0, 0.0]))[0] == 0.75
    assert math.isnan(so2(np.array([1.0, 0.0]), np.array([3.0, 0.0]))[1])
    img = np.arange(16.0).reshape(4, 4)
    mask = np.zeros((4, 4), bool)
    mask[1:3, 1:3] = True
    s = roi_stats(img, mask)
    assert (s["n"], s["mean"], s["min"], s["max"], s["sum"]) == (4, 7.5, 5.0, 10.0, 30.0)
    assert roi_stats(img, np.zeros((4, 4), bool))["n"] == 0
    x, z = np.arange(5.0), np.arange(4.0)
    assert circle_mask(x, z, (2.0, 1.0), 1.0).sum() == 5
    # two blobs: the larger, brighter region wins
    field = np.zeros((40, 40))
    field[5:15, 5:15] = 1.0
    field[25:28, 25:28] = 0.9
    roi = threshold_roi(field, 0.5, smooth_px=0)
    assert roi.sum() == 100 and roi[10, 10] and not roi[26, 26]
    assert not threshold_roi(field, 0.5, mask=np.zeros((40, 40), bool)).any()


def test_diffuse_fluence_is_the_semi_infinite_solution():
    mua = np.full((60, 3), 0.3)
    mus = reduced_scattering(800.0)
    phi = diffuse_fluence(mua, mus, 0.01, 12.0)
    z = (np.arange(60) + 0.5) * 0.01
    assert phi[:, 1] == pytest.approx(optics.fluence(z, 12.0, 0.3, mus), rel=1e-9)
    assert reduced_scattering(500.0) == pytest.approx(18.6)


def test_fluence_compensation_recovers_absorption_of_a_layered_phantom():
    # a 2 mm absorbing inclusion 1.5 mm deep in background tissue, 6 wavelengths
    nz, nx, px = 80, 30, 0.01
    rows = np.arange(nz)[:, None] * np.ones((1, nx))
    wl = np.array([700.0, 750.0, 800.0, 850.0, 900.0, 950.0])
    mua = np.empty((len(wl), nz, nx))
    for i, w in enumerate(wl):
        bg = 0.2 + 0.001 * (w - 700)
        mua[i] = np.where((rows >= 15) & (rows < 35) & (np.arange(nx) > 10), 1.2, bg)
    mus = reduced_scattering(wl)
    p0 = np.stack(
        [0.2 * mua[i] * diffuse_fluence(mua[i], mus[i], px, 15.0) for i in range(len(wl))]
    )
    est, phi = absorption_from_p0(
        p0,
        wl,
        pixel_cm=px,
        surface_fluence=15.0,
        grueneisen=0.2,
        smooth_px=0.0,
        tolerance=1e-8,
        iterations=200,
    )
    assert est == pytest.approx(mua, rel=1e-5)
    assert phi[2, 40, 20] < phi[2, 40, 5]  # shadowed below the inclusion
    with pytest.raises(ValueError, match="wavelengths"):
        absorption_from_p0(p0[0], wl, pixel_cm=px, surface_fluence=15.0)


def test_so2_uncertainty_covers_the_truth_as_often_as_it_claims():
    """Repeated noisy spectra: |error| < 1.96 std as often as Student's t with the fit's
    degrees of freedom says (the noise is estimated from each pixel's own residual), for
    sO2 and for a component, with a well or a poorly conditioned library."""
    from scipy.stats import t as student

    rng = np.random.default_rng(7)
    for names in (("Hb", "HbO2", "water"), ("Hb", "HbO2", "water", "iron_oxide")):
        lib = {n: optics.extinction(n, WL) for n in names}
        n_px = 4000
        conc = {n: np.full(n_px, 1.0) for n in names}
        conc["Hb"], conc["HbO2"] = np.full(n_px, 0.02e-3 * 0.3), np.full(n_px, 0.02e-3 * 0.7)
        if "water" in conc:
            conc["water"] = np.full(n_px, 0.7)
        clean = sum(math.log(10) * np.outer(lib[n], conc[n]) for n in names)
        sigma = 0.02 * float(np.abs(clean).mean())
        un = unmix_spectra(clean + sigma * rng.standard_normal(clean.shape), lib, nonnegative=False)
        expected = 2 * student.cdf(1.96, WL.size - len(names)) - 1
        zhb = (un["Hb"] - conc["Hb"]) / un.std("Hb")
        assert np.mean(np.abs(zhb) < 1.96) == pytest.approx(expected, abs=0.02), names
        z = (un.so2() - 0.7) / un.so2_std()
        if "iron_oxide" in names:
            # a strong featureless agent: sO2 is not identifiable (first-order propagation
            # no longer holds there, which is why the analysis masks such pixels)
            assert np.median(np.nan_to_num(un.so2_std(), nan=np.inf)) > 0.1
        else:
            assert np.median(un.so2_std()) < 0.05
            assert np.mean(np.abs(z) < 1.96) == pytest.approx(expected, abs=0.02), names


def test_a_flat_background_is_not_fitted_beside_a_featureless_agent():
    from labctl.analysis.unmix import background_is_identifiable, spectral_condition

    wl = np.arange(680.0, 981.0, 20.0)  # the multispectral example's sweep
    blood = {n: optics.extinction(n, wl) for n in ("Hb", "HbO2", "water")}
    assert background_is_identifiable(blood)
    with_iron = {**blood, "iron_oxide": optics.extinction("iron_oxide", wl)}
    assert not background_is_identifiable(with_iron)
    assert spectral_condition(with_iron, background=True) > 10 * spectral_condition(with_iron)
