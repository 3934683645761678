"""Image formation from the mouse model: OA sections and fluorescence exitance."""

import math

import numpy as np
import pytest

from labctl.simulators.physics import optics
from labctl.simulators.physics.imaging import (
    CrossSection,
    SectionGrid,
    _Convolver,
    _fast_len,
    bilinear,
    fluorescence_exitance,
    grueneisen,
)
from labctl.simulators.physics.tumor import MouseTumor, TumorParams


@pytest.fixture(scope="module")
def mouse():
    return MouseTumor(TumorParams(agent_dose=2.0, agent_injected_h_before=24.0))


def test_grueneisen_of_water_from_measured_properties_and_of_tissue():
    """PHYSICS.md section 6: 0.1378 (25 C), 0.2011 (37), 0.2155 (40), 0.2295 (43),
    0.2386 (45); shallower over 37-45 C than the linear law (5.3e-3 /K)."""
    for T, gamma in ((25, 0.1378), (37, 0.2011), (40, 0.2155), (43, 0.2295), (45, 0.2386)):
        assert grueneisen(T) == pytest.approx(gamma, abs=2e-4)
    slope_37, slope_45 = (grueneisen(T + 0.5) - grueneisen(T - 0.5) for T in (37.0, 45.0))
    assert 0.84 * 0.0053 < slope_45 < slope_37 < 0.94 * 0.0053
    # lipid raises Gamma and flattens its relative temperature dependence
    assert grueneisen(37.0, 0.1) == pytest.approx(0.9 * 0.2011 + 0.1 * 0.8, abs=2e-4)
    rel = (grueneisen(38.0, 0.1) / grueneisen(37.0, 0.1)) - 1
    assert rel < 0.8 * (grueneisen(38.0) / grueneisen(37.0) - 1)


def test_section_geometry_and_absorbers(mouse):
    grid = SectionGrid(160, 160, 100e-6)
    cs = CrossSection(mouse, grid)
    area = cs.tumor_fraction.sum() * grid.pixel_m**2
    assert area == pytest.approx(math.pi * mouse.radius_m**2, rel=0.01)
    maps = cs.absorbers()
    inside = cs.tumor_fraction == 1
    assert maps["iron_oxide"][inside] == pytest.approx(mouse.params.iron_mg_per_mL)
    assert not maps["iron_oxide"][cs.tumor_fraction == 0].any()
    blood = maps["Hb"] + maps["HbO2"]
    assert (maps["HbO2"] / blood)[inside] == pytest.approx(mouse.params.so2_tumor)
    # the agent: rim-enhanced in the tumor, plasma level elsewhere, as on the model's grid
    agent = cs.agent()
    assert agent[inside].max() > 2 * agent[inside].min()
    assert agent.max() == pytest.approx(mouse.agent_map().max(), rel=0.1)


def test_fluence_and_p0_follow_the_diffusion_model(mouse):
    cs = CrossSection(mouse, SectionGrid(80, 80, 150e-6))
    mua = cs.mu_a(800.0)
    col = 0  # 5.9 mm beside the axis: a homogeneous column of tissue
    assert cs.tumor_fraction[:, col].max() == 0
    assert np.ptp(mua[:, col]) < 1e-9
    phi = cs.fluence(800.0, 15.0, mu_a=mua)
    mus = optics.reduced_scattering(800.0)
    expected = optics.fluence(cs.grid.z * 100, 15.0, mua[0, col], mus)
    assert phi[:, col] == pytest.approx(expected, rel=1e-9)
    assert phi[0, col] > 15.0  # backscattered light builds up under the surface
    T = cs.temperature()
    p0 = cs.initial_pressure(800.0, 15.0, T)
    assert p0 == pytest.approx(grueneisen(T, cs.lipid_fraction) * mua * phi)


def test_section_temperature_matches_the_model(mouse):
    grid = SectionGrid(81, 41, 100e-6)
    cs = CrossSection(mouse, grid)
    T = cs.temperature()
    row = int(round(mouse.center_m / grid.pixel_m - 0.5))
    assert T[row, 20] == pytest.approx(mouse.temperature_at(0.0, grid.z[row]), abs=1e-6)
    assert T[0, 20] == pytest.approx(mouse.temperature_at(0.0, grid.z[0]), abs=1e-6)


def test_bilinear_and_fft_helpers():
    y, x = np.linspace(0, 1, 5), np.linspace(-2, 2, 9)
    v = 3 * y[:, None] - 2 * x[None, :] + 1
    yq, xq = np.array([0.1, 0.77, 2.0]), np.array([-1.9, 0.3, 0.0])
    assert bilinear(y, x, v, yq, xq) == pytest.approx(3 * np.clip(yq, 0, 1) - 2 * xq + 1)
    assert [_fast_len(n) for n in (7, 149, 513)] == [8, 150, 540]
    rng = np.random.default_rng(0)
    img, k = rng.random((6, 7)), rng.random((5, 3))
    conv = _Convolver(img.shape, k.shape)
    conv.add(img, k)
    direct = np.zeros_like(img)
    for i in range(6):
        for j in range(7):
            for a in range(5):
                for b in range(3):
                    ii, jj = i + 2 - a, j + 1 - b
                    if 0 <= ii < 6 and 0 <= jj < 7:
                        direct[i, j] += img[ii, jj] * k[a, b]
    assert conv.result() == pytest.approx(direct)


def test_fluorescence_exitance_budget_and_temperature(mouse):
    x = np.linspace(-12e-3, 12e-3, 121)
    kw = dict(excitation_nm=808.0, irradiance_W_cm2=0.05, detect_nm=850.0, x_m=x, y_m=x)
    M, phi = fluorescence_exitance(mouse, **kw)
    assert M.max() == M[60, 60] and M[60, 60] > 3 * M[60, 5]
    # photons conserved: the image integral equals the escaping emission of the grid
    g = mouse.grid
    c = mouse.agent_map()
    e_ph = 6.62607015e-34 * 299792458.0 / 808e-9
    q = phi / e_ph * math.log(10) * optics.extinction("icg", 808.0) * c * 0.05
    emitted = (q * g.volume * 1e6).sum()  # photons/s (volume m^3 -> cm^3)
    escaped = M.sum() * (x[1] - x[0]) ** 2 * 1e4
    assert 0.05 * emitted < escaped < 0.6 * emitted
    none = MouseTumor()
    assert not fluorescence_exitance(none, **kw)[0].any()
    # warmer tissue: lower quantum yield, less light (alpha = -1.5 %/K)
    warm = MouseTumor(TumorParams(agent_dose=2.0))
    cold_M = fluorescence_exitance(warm, **kw)[0][60, 60]
    warm.set_amf(230e3, 7e3)
    warm.advance(600.0)
    assert fluorescence_exitance(warm, **kw)[0][60, 60] < 0.99 * cold_M
