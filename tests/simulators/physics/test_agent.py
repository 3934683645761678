"""Agent kinetics and its coupling into the mouse-tumor model."""

import math

import numpy as np
import pytest

from labctl.core.errors import ConfigError
from labctl.simulators.physics import optics
from labctl.simulators.physics.agent import AgentKinetics, AgentParams, dose_unit, uptake_weight
from labctl.simulators.physics.sample import make_sample
from labctl.simulators.physics.tumor import MouseTumor, TumorParams

H = 3600.0


def test_bateman_solution_matches_the_two_compartment_odes():
    kin = AgentKinetics(AgentParams(), body_mass_g=25.0)
    kin.inject(0.0, 2.0)
    p = kin.params
    # explicit integration of dCp/dt = -k_el Cp, dCt/dt = Ktrans Cp - k_ep Ct in 10 s steps
    dt, cp, ct = 10.0, kin.plasma(0.0), 0.0
    for step in range(int(48 * H / dt)):
        t = step * dt
        if t in (1 * H, 4 * H, 24 * H):
            assert kin.tumor(t) == pytest.approx(ct, rel=2e-3)
            assert kin.plasma(t) == pytest.approx(cp, rel=2e-3)
        k1p, k1t = -p.k_el_per_s * cp, p.k_trans_per_s * cp - p.k_ep_per_s * ct
        cp2, ct2 = cp + dt * k1p, ct + dt * k1t
        k2p, k2t = -p.k_el_per_s * cp2, p.k_trans_per_s * cp2 - p.k_ep_per_s * ct2
        cp, ct = cp + dt * (k1p + k2p) / 2, ct + dt * (k1t + k2t) / 2


def test_uptake_peaks_near_24h_and_washes_out():
    kin = AgentKinetics()
    kin.inject(0.0, 2.0)
    assert kin.peak_time_s() / H == pytest.approx(24.0, abs=1.0)
    c = {h: kin.tumor(h * H) for h in (1, 4, 24, 48)}
    assert c[1] < c[4] < c[24] and c[48] < c[24]
    assert kin.percent_injected_dose_per_g(24 * H) == pytest.approx(3.1, abs=0.5)
    # plasma: 2 umol/kg in 40 mL/kg of plasma = 50 umol/L, halving every 6 h
    assert kin.plasma(0.0) == pytest.approx(50e-6)
    assert kin.plasma(6 * H) == pytest.approx(25e-6)
    assert kin.plasma(-1.0) == 0.0 and kin.tumor(0.0) == 0.0


def test_injections_superpose_and_doses_have_units():
    a, b = AgentKinetics(), AgentKinetics()
    a.inject(0.0, 1.0)
    a.inject(10 * H, 1.0)
    b.inject(0.0, 1.0)
    single = AgentKinetics()
    single.inject(0.0, 1.0)
    assert a.tumor(30 * H) == pytest.approx(single.tumor(30 * H) + single.tumor(20 * H))
    assert dose_unit("icg") == "umol/kg" and dose_unit("iron_oxide") == "mg/kg"
    iron = AgentKinetics(AgentParams(absorber="iron_oxide"), body_mass_g=20.0)
    inj = iron.inject(0.0, 10.0)  # 10 mg/kg x 20 g = 0.2 mg in 0.8 mL plasma
    assert inj.plasma0 == pytest.approx(0.25)
    with pytest.raises(ValueError, match="dose"):
        iron.inject(0.0, 0.0)
    with pytest.raises(ValueError, match="absorber"):
        AgentParams(absorber="Hb")
    with pytest.raises(ValueError, match="unknown"):
        AgentParams(absorber="unobtainium")
    with pytest.raises(ValueError, match="half-lives"):
        AgentParams(plasma_half_life_h=10.0, washout_half_life_h=10.0)


def test_uptake_weight_has_unit_mean_over_the_sphere_and_rim_enhancement():
    rho = np.linspace(0, 1, 20001)
    w = uptake_weight(rho, 0.3)
    mean = np.trapezoid(w * 3 * rho**2, rho)  # volume weight 3 rho^2 drho
    assert mean == pytest.approx(1.0, rel=1e-6)
    assert w[0] < 1 < w[-1]
    assert uptake_weight(2.0, 0.3) == pytest.approx(w[-1])  # clipped outside


def test_photophysics():
    kin = AgentKinetics()
    assert kin.quantum_yield(37.0) == pytest.approx(0.05)
    assert kin.quantum_yield(47.0) == pytest.approx(0.05 * (1 - 0.15))
    assert kin.band_fraction(600, 1700) == pytest.approx(1.0, abs=1e-4)
    nir2 = kin.band_fraction(1000, 1700)
    assert 0.01 < nir2 < 0.1  # ICG: a small NIR-II tail
    assert kin.band_fraction(800, 850) > 5 * nir2
    lam = np.array([700.0, 820.0, 1100.0])
    s = kin.emission_spectrum(lam)
    assert s[1] > s[0] and s[1] > s[2] > 0


def test_mouse_tumor_carries_the_agent():
    m = MouseTumor(TumorParams(iron_mg_per_mL=0.0))
    before = m.absorber_maps()["icg"].copy()
    assert not before.any() and m.truth()["agent_injections"] == 0
    m.inject(2.0)
    m.advance(24 * H)
    maps = m.absorber_maps()
    tumor = m.tumor_fraction > 0.99
    assert maps["icg"][tumor].mean() > 5 * maps["icg"][m.tumor_fraction == 0].mean()
    truth = m.truth()
    assert truth["agent_tumor"] == pytest.approx(m.agent.tumor(m.t_s))
    assert truth["agent_percent_ID_per_g"] > 1.0
    # the agent absorbs: more laser heat in the tumor
    mua_808 = m.optical_properties(808.0)[0][tumor].mean()
    ext = optics.extinction("icg", 808.0) * math.log(10)
    assert mua_808 > ext * maps["icg"][tumor].mean()


def test_pre_injected_mouse_and_config():
    m = make_sample(
        "mouse_tumor",
        agent_dose=2.0,
        agent_injected_h_before=24.0,
        agent={"plasma_half_life_h": 5.0},
    )
    assert m.agent.injections[0].t_s == pytest.approx(-24 * H)
    assert m.params.agent.plasma_half_life_h == 5.0
    assert m.truth()["agent_tumor"] > 0
    with pytest.raises(ConfigError, match="agent.colour"):
        make_sample("mouse_tumor", agent={"colour": "green"})
    with pytest.raises(ConfigError, match="quantum_yield"):
        make_sample("mouse_tumor", agent={"quantum_yield": -1.0})


def test_steady_state_is_kept_without_integrating():
    """An untouched model stays exactly at its baseline over long waits (no drift)."""
    m = MouseTumor()
    T0 = m.temperature("tumor")
    m.advance(48 * H)
    assert m.temperature("tumor") == T0 and m.t_s == 48 * H
    m.set_amf(230e3, 7e3)
    m.advance(60.0)
    m.set_amf(230e3, 0.0)
    m.advance(10.0)
    assert m.temperature("tumor") > T0  # heated: integrated, not skipped
