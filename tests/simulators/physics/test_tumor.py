import math

import numpy as np
import pytest
from scipy.optimize import brentq

from labctl.core.clock import SimClock
from labctl.simulators.physics import magnetics
from labctl.simulators.physics.bioheat import AxiGrid, Boundary, PennesSolver, graded_faces
from labctl.simulators.physics.tumor import MouseTumor, TumorParams
from labctl.simulators.physics.world import SampleModel, SimWorld


@pytest.fixture(scope="module")
def mouse() -> MouseTumor:
    return MouseTumor()


# -- the solver against analytic solutions ----------------------------------------------


def sphere_grid(a: float, far: float) -> AxiGrid:
    g = graded_faces(far, a / 10, 1.5 * a, growth=1.2)
    return AxiGrid(g, np.concatenate([far - g[::-1], far + g[1:]]))


def test_heated_sphere_in_infinite_medium():
    """Steady uniformly heated sphere (radius a, Q W/m^3) in a conducting medium, far field T0.

    T(r) = T0 + Q/(6k)(a^2 - r^2) + Q a^2/(3k) inside, T0 + Q a^3/(3 k r) outside.
    """
    a, far, k, Q, T0 = 3e-3, 0.6, 0.5, 1e6, 37.0
    grid = sphere_grid(a, far)
    shape = (grid.nz, grid.nr)
    fixed = Boundary(math.inf, T0)
    solver = PennesSolver(
        grid,
        np.full(shape, k),
        np.full(shape, 4e6),
        np.zeros(shape),
        top=fixed,
        bottom=fixed,
        outer=fixed,
    )
    frac = grid.fraction_inside_sphere(far, a)
    assert (frac * grid.volume).sum() == pytest.approx(4 / 3 * math.pi * a**3, rel=0.01)
    T = solver.steady((Q * frac * grid.volume).ravel()).reshape(shape)
    R, Z = np.meshgrid(grid.r, grid.z - far)
    rho = np.hypot(R, Z)
    analytic = np.where(
        rho < a,
        T0 + Q / (6 * k) * (a**2 - rho**2) + Q * a**2 / (3 * k),
        T0 + Q * a**3 / (3 * k * np.maximum(rho, 1e-12)),
    )
    rise_centre = Q * a**2 / (2 * k)
    near = (rho < 4 * a) & (np.abs(rho - a) > 0.15 * a)  # away from the staircase edge
    err = np.abs(T - analytic)[near].max()
    assert err < 0.03 * rise_centre
    j = np.argmin(np.abs(grid.z - far))
    assert T[j, 0] - T0 == pytest.approx(rise_centre, rel=0.03)


def test_perfused_block_relaxes_exponentially():
    """No gradients: rho c dT/dt = w c_b (T_a - T) + Q, exact exponential; checks TR-BDF2."""
    g = AxiGrid(np.linspace(0, 0.01, 6), np.linspace(0, 0.01, 6))
    shape = (5, 5)
    rc, perf, Q, Ta = 3.6e6, 2e4, 1e5, 37.0
    adiabatic = Boundary(0.0)
    s = PennesSolver(
        g,
        np.full(shape, 0.5),
        np.full(shape, rc),
        np.full(shape, perf),
        adiabatic,
        adiabatic,
        adiabatic,
        arterial_C=Ta,
    )
    x = np.full(25, Ta)
    src = (Q * g.volume).ravel()
    for t_end in (30.0, 300.0):
        xt = s.integrate(x, t_end, src, max_step=2.0)
        exact = Ta + Q / perf * (1 - math.exp(-perf * t_end / rc))
        np.testing.assert_allclose(xt, exact, rtol=0, atol=2e-5 * Q / perf)
    np.testing.assert_allclose(s.steady(src), Ta + Q / perf)


# -- the mouse model -------------------------------------------------------------------


def test_protocol_positions_and_baseline(mouse):
    assert isinstance(mouse, SampleModel)
    for name in ("tumor", "tumor_edge", "skin", "rectal", "reference"):
        assert name in mouse.positions
    assert mouse.temperature("tumor") == pytest.approx(37.0, abs=0.3)
    assert mouse.temperature("rectal") == pytest.approx(37.0, abs=0.1)
    assert mouse.temperature("reference") == mouse.params.T_air_C
    assert mouse.temperature("reference") < mouse.temperature("skin") < 37.0
    with pytest.raises(KeyError):
        mouse.temperature("liver")


def test_starts_at_steady_state():
    m = MouseTumor()
    before = {k: m.temperature(k) for k in m.positions}
    m.advance(900.0)
    for k, v in before.items():
        assert m.temperature(k) == pytest.approx(v, abs=1e-6)


def test_43C_reachable_within_field_limits(mouse):
    f = 230e3
    H43 = brentq(lambda H: mouse.steady_state(f, H)["tumor"] - 43.0, 1e3, 2e4)
    assert 6e3 <= H43 <= 9e3
    assert H43 * f < 5e9  # Hergt-Dutz


def test_ten_minutes_at_8_kA_m():
    m = MouseTumor()
    t0 = {k: m.temperature(k) for k in ("tumor", "rectal", "tumor_edge")}
    m.set_amf(230e3, 8e3)
    for _ in range(600):
        m.advance(1.0)
    d_tumor = m.temperature("tumor") - t0["tumor"]
    d_rectal = m.temperature("rectal") - t0["rectal"]
    assert d_tumor > 3.0
    assert 0.0 < d_rectal < 1.0
    assert m.temperature("tumor") > m.temperature("tumor_edge") > t0["tumor_edge"]
    truth = m.truth()
    assert truth["T_tumor_max_C"] >= truth["T_tumor_C"] - 1e-9
    assert truth["slp_W_per_g_Fe"] * 1e3 == pytest.approx(
        magnetics.slp_per_fe(m.params.particle, 230e3, 8e3, 310.15, immobilized=True)
    )
    assert truth["power_particles_W"] == pytest.approx(
        truth["slp_W_per_g_Fe"] * truth["iron_mg"] * 1e-3, rel=1e-9
    )
    assert truth["iron_mg"] == pytest.approx(5.0 * truth["tumor_volume_mL"])
    assert truth["tumor_volume_mL"] == pytest.approx(4 / 3 * math.pi * 0.3**3, rel=0.02)
    assert 0 < truth["power_eddy_W"] < 0.2 * truth["power_particles_W"]


def test_time_step_convergence_and_call_pattern():
    def run(max_step, call):
        m = MouseTumor(TumorParams(max_step_s=max_step))
        m.set_amf(230e3, 8e3)
        out = []
        for _ in range(30):
            for _ in range(round(10 / call)):
                m.advance(call)
            out.append(m.temperature("tumor"))
        return np.array(out)

    ref = run(0.125, 10.0)
    err2 = np.abs(run(2.0, 10.0) - ref).max()
    err1 = np.abs(run(1.0, 10.0) - ref).max()
    assert err2 < 0.01  # C, the default step: far below the probes' 0.1 C resolution
    assert err2 / err1 > 3.0  # second order
    assert np.abs(run(2.0, 1.0) - ref).max() < 0.01  # 1 Hz control loop calls
    odd = run(2.0, 10.0 / 7)  # calls that do not fit the step ladder
    assert np.abs(odd - ref).max() < 0.01


def test_a_repeated_odd_interval_becomes_one_step(monkeypatch):
    """The monitor's 0.45 s after a 0.05 s ramp tick: split by the ladder once, then one
    step of its own size each time (its factorization cached)."""
    m = MouseTumor()
    m.set_amf(230e3, 8e3)
    steps = []
    real = m.solver._steps
    monkeypatch.setattr(
        m.solver, "_steps", lambda x, h, n, r: (steps.append((h, n)), real(x, h, n, r))[1]
    )
    m.advance(0.45)
    first = len(steps)
    steps.clear()
    for _ in range(10):
        m.advance(0.45)
    assert first > 1 and steps == [(0.45, 1)] * 10
    ref = MouseTumor(TumorParams(max_step_s=0.05))
    ref.set_amf(230e3, 8e3)
    for _ in range(11):
        ref.advance(0.45)
    assert m.temperature("tumor") == pytest.approx(ref.temperature("tumor"), abs=2e-3)


def test_clock_rounding_does_not_split_steps():
    """Epoch-time clocks give dt = 1 s only to ~1e-7 s: that must still be one 1 s step."""
    a, b = MouseTumor(), MouseTumor()
    for m in (a, b):
        m.set_amf(230e3, 8e3)
    for _ in range(20):
        a.advance(1.0)
        b.advance(1.0 - 2.4e-7)
    assert b.temperature("tumor") == pytest.approx(a.temperature("tumor"), abs=1e-5)
    assert len(b.solver._factors) == 1
    assert b.t_s == pytest.approx(20 * (1.0 - 2.4e-7))


def test_energy_balance():
    m = MouseTumor()
    m.set_amf(230e3, 8e3)
    m.set_laser(0.3, 808.0, 1.0)
    # steady state: sources balance the losses to air and through the body
    m.x = m.solver.steady(m._source)
    t = m.truth()
    assert t["power_sources_W"] == pytest.approx(
        t["power_to_air_W"] + t["power_body_loss_W"], rel=1e-9
    )
    # transient: stored energy = integral of (sources - losses)
    m = MouseTumor()
    m.set_amf(230e3, 8e3)
    m.set_laser(0.3, 808.0, 1.0)
    net, prev = 0.0, None
    for _ in range(301):
        t = m.truth()
        p = t["power_sources_W"] - t["power_to_air_W"] - t["power_body_loss_W"]
        net += 0.0 if prev is None else 0.5 * (p + prev)
        prev = p
        m.advance(1.0)
    stored = t["stored_energy_J"]
    assert stored > 10.0
    assert stored == pytest.approx(net, rel=0.005)


def test_laser_heats_with_agent():
    plain = MouseTumor(TumorParams(iron_mg_per_mL=0.0))
    gold = MouseTumor(TumorParams(iron_mg_per_mL=0.0, gold_nanorod_mg_per_mL=0.05))
    for m in (plain, gold):
        m.set_laser(0.5, 808.0, 1.0)
        m.advance(120.0)
    assert plain.temperature("tumor") > 37.5
    assert gold.temperature("tumor") > plain.temperature("tumor") + 1.0
    t = gold.truth()
    assert 0 < t["power_laser_W"] < 0.5
    assert t["irradiance_W_cm2"] == pytest.approx(0.5)
    assert t["skin_mpe_W_cm2"] == pytest.approx(0.33, rel=0.01)
    phi = gold.fluence_field(808.0, 0.5, 1.0)
    assert phi.shape == gold.grid.volume.shape
    assert phi[0, 0] > phi[10, 0] > 0
    assert phi[0, -1] == 0.0  # outside the spot
    with pytest.raises(ValueError):
        gold.set_laser(0.5, 808.0, 0.0)


def test_iron_map_and_fields():
    m = MouseTumor()
    r, z, T = m.temperature_field()
    assert T.shape == (len(z), len(r)) == m.grid.volume.shape
    assert m.temperature_at(0.0, m.center_m) == pytest.approx(m.temperature("tumor"))
    assert m.temperature_at(0.0, 0.0) == pytest.approx(m.temperature("skin"))
    m.set_iron_map(np.zeros_like(T))
    m.set_amf(230e3, 8e3)
    assert m.truth()["power_particles_W"] == 0.0
    hot = np.zeros_like(T)
    hot[z.searchsorted(m.center_m), 0] = 50.0
    m.set_iron_map(hot)
    assert m.truth()["power_particles_W"] > 0
    with pytest.raises(ValueError, match="shape"):
        m.set_iron_map(np.zeros(3))
    maps = m.absorber_maps()
    assert set(maps) >= {"HbO2", "Hb", "water", "iron_oxide", "gold_nanorod", "icg"}


def test_extra_positions_and_parameter_validation():
    m = MouseTumor(TumorParams(positions={"deep": (0.0, 0.008)}))
    assert "deep" in m.positions
    assert m.temperature("deep") == pytest.approx(m.temperature_at(0.0, 0.008))
    with pytest.raises(ValueError, match="shadows"):
        TumorParams(positions={"tumor": (0.0, 0.0)})
    with pytest.raises(ValueError, match="k_tumor"):
        TumorParams(k_tumor=0.0)
    with pytest.raises(ValueError):
        MouseTumor().advance(-1.0)


def test_in_a_lockstep_world():
    clock = SimClock(start=1000.0)
    world = SimWorld(clock, MouseTumor(), seed=1)
    world.set_amf(230e3, 8e3)
    clock.advance(60.0)
    assert world.sample.t_s == pytest.approx(0.0)  # integrated lazily
    T = world.temperature("tumor")
    assert world.sample.t_s == pytest.approx(60.0)
    assert T > 37.5


def test_tumor_temperatures_cover_the_tumor_volume_and_its_hot_centre():
    m = MouseTumor()
    m.set_amf(230e3, 8e3)
    m.advance(600.0)
    T, vol_mL = m.tumor_temperatures()
    truth = m.truth()
    assert vol_mL.sum() == pytest.approx(truth["tumor_volume_mL"], rel=1e-12)
    assert np.sum(T * vol_mL) / vol_mL.sum() == pytest.approx(truth["T_tumor_mean_C"], rel=1e-12)
    # the centre is the hottest place; the edge, next to perfused tissue, the coolest
    assert T.max() == pytest.approx(m.temperature("tumor"), abs=0.3)
    assert T.min() < m.temperature("tumor") - 1.0
