import math

import numpy as np
import pytest

from labctl.simulators.physics import optics

LN10 = math.log(10)


@pytest.mark.parametrize(
    ("wavelength", "mpe"),
    [(808, 0.33), (1064, 1.0), (650, 0.2), (700, 0.2), (980, 0.2 * 10 ** (0.002 * 280))],
)
def test_skin_mpe(wavelength, mpe):
    assert optics.skin_mpe(wavelength) == pytest.approx(mpe, rel=0.01)


def test_skin_mpe_range():
    with pytest.raises(ValueError):
        optics.skin_mpe(1500)


def test_hemoglobin_from_packaged_prahl_table():
    nm, hbo2, hb = optics.hemoglobin_table()
    assert nm[0] == 600 and nm[-1] == 1000
    assert optics.extinction("HbO2", 800) == pytest.approx(816)
    assert optics.extinction("Hb", 800) == pytest.approx(761.72)
    # isosbestic point near 800 nm: Hb dominates below, HbO2 above
    assert optics.extinction("Hb", 750) > optics.extinction("HbO2", 750)
    assert optics.extinction("HbO2", 900) > optics.extinction("Hb", 900)


def test_mu_a_sums_ln10_eps_c():
    c = {"HbO2": 1e-4, "Hb": 5e-5, "water": 0.7}
    expected = LN10 * (816 * 1e-4 + 761.72 * 5e-5) + 0.7 * optics.extinction("water", 800) * LN10
    assert optics.mu_a(800, c) == pytest.approx(expected)
    maps = optics.mu_a(800, {"HbO2": np.array([1e-4, 2e-4])})
    assert maps[1] == pytest.approx(2 * maps[0])


def test_water_absorption_values():
    mu_water = optics.mu_a(980, {"water": 1.0})
    assert 0.3 < mu_water < 0.6  # the 970 nm water band
    assert optics.mu_a(808, {"water": 1.0}) < 0.05


@pytest.mark.parametrize(("agent", "low", "high"), [("gold_nanorod", 780, 820), ("icg", 780, 820)])
def test_agent_peaks_near_800(agent, low, high):
    lam = np.arange(600, 1001, 2.0)
    peak = lam[np.argmax(optics.extinction(agent, lam))]
    assert low <= peak <= high


def test_iron_oxide_falls_with_wavelength_and_unknown_absorber():
    assert optics.extinction("iron_oxide", 700) > optics.extinction("iron_oxide", 1064)
    with pytest.raises(KeyError, match="melanin"):
        optics.extinction("melanin", 800)


def test_tissue_defaults_in_physics_md_range():
    assert 0.2 <= optics.tissue_mu_a(808) <= 0.5
    assert optics.reduced_scattering(808) == pytest.approx(10.0, rel=0.02)
    mu_eff = optics.mu_eff(0.3, 10.0)
    assert mu_eff == pytest.approx(math.sqrt(3 * 0.3 * 10.3))


def test_pure_absorber_is_beer_lambert():
    z = np.linspace(0, 2, 11)
    phi = optics.fluence(z, 2.0, 0.7, 0.0)
    np.testing.assert_allclose(phi, 2.0 * np.exp(-0.7 * z))


def test_deep_fluence_is_kb_exp_mu_eff():
    mua, mus = 0.25, 10.0
    c_coll, k_b = optics.fluence_coefficients(mua, mus)
    assert 3.0 < k_b < 7.0  # backscatter build-up for tissue (n ~ 1.37)
    z = 1.5  # cm: the collimated part exp(-15) is negligible
    me = optics.mu_eff(mua, mus)
    assert optics.fluence(z, 1.0, mua, mus) == pytest.approx(k_b * math.exp(-me * z), rel=1e-4)
    assert optics.fluence(0.0, 1.0, mua, mus) == pytest.approx(c_coll + k_b)
    assert 2.0 < c_coll + k_b < 6.0  # surface fluence is a few times the irradiance


def test_diffusion_solution_conserves_energy():
    """Absorbed fraction + diffuse reflectance (flux out through the boundary) = 1."""
    mua, mus, n = 0.3, 10.0, 1.37
    z = np.linspace(0, 10, 200001)
    phi = optics.fluence(z, 1.0, mua, mus, n)
    absorbed = np.trapezoid(mua * phi, z)
    A = (1 + optics.effective_reflection(n)) / (1 - optics.effective_reflection(n))
    phi_diffuse_0 = phi[0] - 1.0  # minus the collimated beam
    reflectance = phi_diffuse_0 / (2 * A)  # extrapolated boundary: J_out = Phi_d / 2A
    assert absorbed + reflectance == pytest.approx(1.0, abs=1e-4)
    assert 0.3 < reflectance < 0.6


def test_layered_fluence_matches_homogeneous_and_attenuates_in_absorber():
    faces = np.linspace(0, 1.0, 101)
    centres = 0.5 * (faces[1:] + faces[:-1])
    mua = np.full(100, 0.25)
    mus = np.full(100, 10.0)
    layered = optics.fluence_layered(faces, mua, mus, 1.5)
    np.testing.assert_allclose(layered, optics.fluence(centres, 1.5, 0.25, 10.0), rtol=1e-9)
    mua2 = mua.copy()
    mua2[20:40] = 3.0  # a strongly absorbing layer (particle-laden tumor)
    layered2 = optics.fluence_layered(faces, mua2, mus, 1.5)
    extra = (optics.mu_eff(3.0, 10.0) - optics.mu_eff(0.25, 10.0)) * 0.2
    assert layered2[80] / layered[80] == pytest.approx(math.exp(-extra), rel=0.01)
    np.testing.assert_allclose(layered2[:19], layered[:19])
    # radial columns broadcast
    cols = optics.fluence_layered(
        faces, np.stack([mua, mua2], 1), np.stack([mus, mus], 1), np.array([1.5, 1.5])
    )
    np.testing.assert_allclose(cols[:, 1], layered2)


def test_cuvette_absorbed_power():
    assert optics.absorbed_power(2.0, 1.0) == pytest.approx(1.8)
    assert optics.absorbed_power(2.0, 0.0) == 0.0
