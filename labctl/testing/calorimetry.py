"""Repeated simulated calorimetry runs: does an uncertainty cover the truth as often as it
claims?

Each repeat records the vial simulator (``labctl.simulators.physics.vial``) through the
simulated fibre-optic probe (lag, noise, 0.1 C resolution) on its own seed, and draws
the errors of the inputs the analysis is told (iron mass, heat capacity, field
calibration; laser power, absorbance) from the standard uncertainties the analysis
assumes, so the whole budget is tested, not only the fit.  Used by
``benchmarks/bench_coverage.py`` (50 repeats) and a smaller test.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from labctl.analysis.pce import PCEInputs, photothermal_efficiency, solvent_blank
from labctl.analysis.sar import CalorimetryUncertainty, sar_all
from labctl.simulators.physics.probes import FiberProbe
from labctl.simulators.physics.vial import Vial, VialParams
from labctl.simulators.physics.world import SimWorld

__all__ = ["record", "sar_repeat", "pce_repeat", "WALL_LAG_W_PER_K"]

#: Suspension-wall conductance of the "wall lag" vial, W/K: h ~ 100 W/(m^2 K) of natural
#: convection over ~5 cm^2 of wetted glass (a model value; the lumped methods then read
#: 6-9 % high, the size Wildeboer et al. 2014 discuss).
WALL_LAG_W_PER_K = 0.05

T0_S = 1000.0


class _Clock:
    """A bench clock moved by hand (seconds)."""

    def __init__(self) -> None:
        self.t = T0_S

    def now(self) -> float:
        return self.t


def record(vial: Vial, schedule, period_s: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Probe readings of ``vial`` every ``period_s``; ``schedule`` is ``(duration_s,
    action)`` pairs, ``action(world)`` (or None) applied at the start of the phase."""
    clock = _Clock()
    world = SimWorld(clock, vial, seed=seed)
    probe = FiberProbe("sample", tau_s=0.5, noise_C=0.05, resolution_C=0.1)
    t, T = [], []
    for duration, action in schedule:
        if action is not None:
            action(world)
        for _ in range(int(round(duration / period_s))):
            t.append(clock.t)
            T.append(probe.read(world))
            clock.t += period_s
    return np.array(t), np.array(T)


def sar_repeat(
    seed: int,
    *,
    wall_conductance_W_per_K: float | None = WALL_LAG_W_PER_K,
    heat_s: float = 300.0,
    unc: CalorimetryUncertainty | None = None,
) -> dict[str, tuple[float, float, float]]:
    """One SAR run: ``{method: (estimate, u95, truth)}`` for SAR (W/g Fe) and
    ``{"ilp_" + method: ...}`` for ILP (nH m^2/kg Fe)."""
    rng = np.random.default_rng(10_000 + seed)
    declared = VialParams(gold_nanorod_mg_per_mL=0.0)
    C_vessel = declared.vessel_g * 1e-3 * declared.vessel_c
    C = declared.water_mL * 1e-3 * declared.water_c + C_vessel
    unc = unc or CalorimetryUncertainty(vessel_J_per_K=C_vessel)
    true = dataclasses.replace(
        declared,
        iron_mg=declared.iron_mg * (1 + unc.iron_mass_rel * rng.standard_normal()),
        water_mL=declared.water_mL * (1 + unc.heat_capacity_rel * rng.standard_normal()),
        vessel_g=declared.vessel_g * (1 + unc.heat_capacity_rel * rng.standard_normal()),
        wall_conductance_W_per_K=wall_conductance_W_per_K,
    )
    f, H = 230e3, 8e3
    H_true = H * (1 + unc.field_rel * rng.standard_normal())
    vial = Vial(true)
    on = T0_S + 90.0
    t, T = record(
        vial,
        [(90.0, None), (heat_s, lambda w: w.set_amf(f, H_true)), (60.0, lambda w: w.set_amf(f, 0))],
        0.5,
        seed,
    )
    vial.set_amf(f, H_true)
    truth = vial.truth()
    summary = sar_all(
        t,
        T,
        heat_capacity_J_per_K=C,
        iron_mass_g=declared.iron_mg * 1e-3,
        t_on_s=on,
        t_off_s=on + heat_s,
        field_A_m=H,
        frequency_Hz=f,
        uncertainty=unc,
    )
    out = {}
    for r in summary.results:
        out[r.method] = (r.sar_W_per_g, r.sar_u95_W_per_g, truth["sar_W_per_g_Fe"])
        out["ilp_" + r.method] = (
            r.ilp_nH_m2_per_kg_Fe,
            r.ilp_u95_nH_m2_per_kg_Fe,
            truth["ilp_nH_m2_per_kg_Fe"],
        )
    return out


def pce_repeat(
    seed: int, *, heat_s: float = 1800.0, inputs: PCEInputs | None = None
) -> tuple[float, float, float]:
    """One Roper PCE measurement with its solvent blank: ``(eta, u95, true eta)``."""
    rng = np.random.default_rng(20_000 + seed)
    inp = inputs or PCEInputs()
    declared = VialParams()
    C = declared.water_mL * 1e-3 * declared.water_c + declared.vessel_g * 1e-3 * declared.vessel_c
    power = 0.5
    true_power = power * (1 + inp.power_rel * rng.standard_normal())
    scale = 1 + inp.heat_capacity_rel * rng.standard_normal()
    true = dataclasses.replace(declared, water_mL=declared.water_mL * scale)
    true = dataclasses.replace(true, vessel_g=declared.vessel_g * scale)
    solvent = dataclasses.replace(true, iron_mg=0.0, gold_nanorod_mg_per_mL=0.0)
    on, period = T0_S + 60.0, 2.0

    def run(vial: Vial, run_seed: int):
        return record(
            vial,
            [
                (60.0, None),
                (heat_s, lambda w: w.set_laser(true_power, 808.0, 0.5)),
                (1200.0, lambda w: w.set_laser(0.0, 808.0, 0.5)),
            ],
            period,
            run_seed,
        )

    t_b, T_b = run(Vial(solvent), 2 * seed + 1)
    blank = solvent_blank(t_b, T_b, laser_off_s=on + heat_s, laser_on_s=on, power_W=power)
    sample = Vial(true)
    A = sample.absorbance(808.0)
    t, T = run(sample, 2 * seed)
    r = photothermal_efficiency(
        t,
        T,
        laser_off_s=on + heat_s,
        laser_on_s=on,
        power_W=power,
        absorbance=A + inp.absorbance_std * rng.standard_normal(),
        heat_capacity_J_per_K=C,
        blank=blank,
        inputs=inp,
    )
    return r.eta, r.eta_u95, true.pce
