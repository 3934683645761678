"""Roper photothermal conversion efficiency against exact lumped heating/cooling curves."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from labctl.analysis.pce import (
    BlankResult,
    PCEInputs,
    fit_cooling,
    photothermal_efficiency,
    solvent_blank,
    solvent_dissipation_W,
)

C_J_PER_K = 4.6  # 1 mL water in a quartz cuvette
HS_W_PER_K = 0.022  # tau = C / hS = 209 s
LASER_W = 1.0
ABSORBANCE = 0.8
ETA_TRUE = 0.45
Q_DIS_W = 0.015
T_AMB = 24.0
T_ON, T_OFF, T_END = 60.0, 1860.0, 3000.0
ABSORBED_W = LASER_W * (1 - 10**-ABSORBANCE)


def lumped_run(
    q_in_W: float,
    *,
    t_off: float = T_OFF,
    noise_C: float = 0.0,
    quantum_C: float = 0.0,
    probe_tau_s: float = 0.5,
    fs_Hz: float = 1.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Laser on at T_ON, off at t_off: exact lumped solution through a first-order probe."""
    tau = C_J_PER_K / HS_W_PER_K
    dT_inf = q_in_W / HS_W_PER_K
    dt = 0.01
    tf = np.arange(0.0, T_END + dt / 2, dt)
    heat = dT_inf * -np.expm1(-np.clip(tf - T_ON, 0.0, None) / tau)
    at_off = dT_inf * -np.expm1(-(t_off - T_ON) / tau)
    dT = np.where(tf <= t_off, heat, at_off * np.exp(-(tf - t_off) / tau))
    a = np.exp(-dt / probe_tau_s)
    Tp = T_AMB + lfilter([1 - a], [1, -a], dT)
    step = round(1.0 / (fs_Hz * dt))
    t, T = tf[::step], Tp[::step].copy()
    T += noise_C * np.random.default_rng(seed).standard_normal(T.size)
    if quantum_C:
        T = np.round(T / quantum_C) * quantum_C
    return t, T


SAMPLE_Q_W = ETA_TRUE * ABSORBED_W + Q_DIS_W


def pce(t: np.ndarray, T: np.ndarray, **kw: object):
    args = dict(
        laser_off_s=T_OFF,
        power_W=LASER_W,
        absorbance=ABSORBANCE,
        heat_capacity_J_per_K=C_J_PER_K,
        q_dis_W=Q_DIS_W,
        laser_on_s=T_ON,
    )
    args.update(kw)
    return photothermal_efficiency(t, T, **args)


def test_noise_free_recovers_eta_tau_and_hs() -> None:
    t, T = lumped_run(SAMPLE_Q_W)
    r = pce(t, T, ambient_C=T_AMB)
    assert r.eta == pytest.approx(ETA_TRUE, rel=0.005)
    assert r.tau_s == pytest.approx(C_J_PER_K / HS_W_PER_K, rel=0.003)
    assert r.hS_W_per_K == pytest.approx(HS_W_PER_K, rel=0.003)
    assert r.T_max_C == pytest.approx(T_AMB + SAMPLE_Q_W / HS_W_PER_K, rel=1e-3)
    assert r.absorbed_power_W == pytest.approx(0.841511, rel=1e-5)
    assert r.r_squared > 0.9999


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noisy_quantised_run_within_three_percent(seed: int) -> None:
    t, T = lumped_run(SAMPLE_Q_W, noise_C=0.05, quantum_C=0.1, seed=seed)
    r = pce(t, T)  # ambient from the baseline before laser_on_s
    assert r.T_surr_C == pytest.approx(T_AMB, abs=0.03)
    assert r.eta == pytest.approx(ETA_TRUE, rel=0.03)
    assert abs(r.eta - ETA_TRUE) < 4 * r.eta_std + 0.003
    assert 0.04 < r.residual_std_K < 0.08


def test_q_dis_from_solvent_run_then_eta() -> None:
    sample_t, sample_T = lumped_run(SAMPLE_Q_W, noise_C=0.05, quantum_C=0.1, seed=4)
    solvent_t, solvent_T = lumped_run(Q_DIS_W, noise_C=0.05, quantum_C=0.1, seed=5)
    hs = pce(sample_t, sample_T).hS_W_per_K
    q_dis = solvent_dissipation_W(
        solvent_t, solvent_T, laser_off_s=T_OFF, hS_W_per_K=hs, laser_on_s=T_ON
    )
    assert q_dis == pytest.approx(Q_DIS_W, rel=0.05)
    r = pce(sample_t, sample_T, q_dis_W=q_dis)
    assert r.eta == pytest.approx(ETA_TRUE, rel=0.03)
    # noise-free solvent run: its own time constant gives Q_dis too
    st, sT = lumped_run(Q_DIS_W)
    q_own = solvent_dissipation_W(
        st, sT, laser_off_s=T_OFF, heat_capacity_J_per_K=C_J_PER_K, ambient_C=T_AMB
    )
    assert q_own == pytest.approx(Q_DIS_W, rel=0.005)
    with pytest.raises(ValueError, match="exactly one"):
        solvent_dissipation_W(st, sT, laser_off_s=T_OFF)


def test_ignoring_q_dis_overestimates_eta_by_its_share() -> None:
    t, T = lumped_run(SAMPLE_Q_W)
    r = pce(t, T, q_dis_W=0.0, ambient_C=T_AMB)
    assert r.eta == pytest.approx(ETA_TRUE + Q_DIS_W / ABSORBED_W, rel=0.005)


def test_storage_correction_for_a_run_stopped_before_the_plateau() -> None:
    # Laser off after 1.5 tau: Roper's steady-state assumption fails, the energy balance
    # C dT/dt + hS dT at laser-off still holds.
    early_off = T_ON + 1.5 * C_J_PER_K / HS_W_PER_K
    t, T = lumped_run(SAMPLE_Q_W, t_off=early_off)
    kw = dict(laser_off_s=early_off, ambient_C=T_AMB, plateau_s=10.0)
    with pytest.warns(RuntimeWarning, match="no plateau at laser-off"):
        plain = pce(t, T, **kw)
    fixed = pce(t, T, storage_correction=True, **kw)
    assert plain.eta < 0.85 * ETA_TRUE
    assert plain.plateau_slope_K_per_s > 0.01
    assert not plain.plateau_reached and fixed.plateau_reached
    # the storage term is reported either way; applied, it closes the energy balance
    assert plain.storage_W == pytest.approx(fixed.storage_W)
    assert plain.storage_W == pytest.approx(fixed.heat_W - plain.heat_W)
    assert fixed.eta == pytest.approx(ETA_TRUE, rel=0.01)


def test_ambient_from_record_start_and_epoch_times() -> None:
    t, T = lumped_run(SAMPLE_Q_W, noise_C=0.05, seed=8)
    on = t >= T_ON  # record starts at laser-on
    epoch = 1.7e9
    fit = fit_cooling(t[on] + epoch, T[on], laser_off_s=T_OFF + epoch)
    assert fit.T_surr_C == pytest.approx(T_AMB, abs=0.1)
    assert fit.tau_s == pytest.approx(C_J_PER_K / HS_W_PER_K, rel=0.02)


def test_theta_min_limits_the_fit() -> None:
    t, T = lumped_run(SAMPLE_Q_W)
    f10 = fit_cooling(t, T, laser_off_s=T_OFF, ambient_C=T_AMB, theta_min=0.1)
    f50 = fit_cooling(t, T, laser_off_s=T_OFF, ambient_C=T_AMB, theta_min=0.5)
    tau = C_J_PER_K / HS_W_PER_K
    # samples from skip (2 s) to tau ln(1/theta_min), at 1 Hz
    assert f10.n_points == pytest.approx(tau * np.log(10) - 2, abs=3)
    assert f50.n_points == pytest.approx(tau * np.log(2) - 2, abs=3)


def test_errors() -> None:
    t, T = lumped_run(SAMPLE_Q_W)
    with pytest.raises(ValueError, match="cooling longer"):
        fit_cooling(t[t < T_OFF + 5], T[t < T_OFF + 5], laser_off_s=T_OFF, ambient_C=T_AMB)
    with pytest.raises(ValueError, match="not above"):
        fit_cooling(t, T, laser_off_s=T_OFF, ambient_C=80.0)
    with pytest.raises(ValueError, match="positive"):
        pce(t, T, absorbance=0.0)


def test_blank_run_gives_q_dis_and_its_uncertainty() -> None:
    t_b, T_b = lumped_run(Q_DIS_W, noise_C=0.05, quantum_C=0.1, seed=3)
    blank = solvent_blank(t_b, T_b, laser_off_s=T_OFF, laser_on_s=T_ON, power_W=LASER_W)
    assert blank.delta_T_C == pytest.approx(Q_DIS_W / HS_W_PER_K, abs=4 * blank.delta_T_std_C)
    assert 0 < blank.delta_T_std_C < 0.02
    t, T = lumped_run(SAMPLE_Q_W, noise_C=0.05, quantum_C=0.1, seed=4)
    r = pce(t, T, q_dis_W=0.0, blank=blank)
    assert r.q_dis_W == pytest.approx(Q_DIS_W, rel=0.1)
    assert r.q_dis_std_W == pytest.approx(r.hS_W_per_K * blank.delta_T_std_C)
    assert r.eta == pytest.approx(ETA_TRUE, abs=2 * r.eta_std)
    # a blank at half the power scales with the power (linear absorption)
    half = BlankResult(blank.delta_T_C / 2, blank.delta_T_std_C / 2, LASER_W / 2)
    assert pce(t, T, q_dis_W=0.0, blank=half).eta == pytest.approx(r.eta)
    with pytest.raises(ValueError, match="not both"):
        pce(t, T, blank=blank)
    with pytest.raises(ValueError, match="finite"):
        BlankResult(float("nan"), 0.01, 1.0)


def test_budget_propagates_each_input() -> None:
    t, T = lumped_run(SAMPLE_Q_W, noise_C=0.05, quantum_C=0.1, seed=5)
    exact = PCEInputs(power_rel=0.0, heat_capacity_rel=0.0, absorbance_std=0.0)
    r0 = pce(t, T, inputs=exact)
    assert set(r0.budget) == {
        "tau",
        "temperature_rise",
        "blank",
        "storage",
        "heat_capacity",
        "laser_power",
        "absorbance",
    }
    assert r0.budget["tau"] > 0 and r0.budget["temperature_rise"] > 0
    r = pce(t, T, inputs=PCEInputs(power_rel=0.03, heat_capacity_rel=0.0, absorbance_std=0.0))
    assert r.eta_std == pytest.approx(r.eta * np.hypot(r0.eta_std / r0.eta, 0.03))
    # absorbance: a numerical derivative of ln(1 - 10^-A)
    dA = 1e-6
    num = (np.log1p(-(10 ** -(ABSORBANCE + dA))) - np.log1p(-(10**-ABSORBANCE))) / dA
    ra = pce(t, T, inputs=PCEInputs(power_rel=0.0, heat_capacity_rel=0.0, absorbance_std=0.01))
    assert ra.budget["absorbance"] == pytest.approx(num * 0.01, rel=1e-4)
    assert r.eta_u95 == pytest.approx(2 * r.eta_std)
    with pytest.raises(ValueError, match="power_rel"):
        PCEInputs(power_rel=float("nan"))
