"""PID, tuning rules and linearisation against a simulated first-order-plus-dead-time plant."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labctl.analysis.control import (
    PID,
    PIDGains,
    field_for_power_fraction,
    fit_fopdt_step,
    imc_pid_tuning,
    power_fraction_for_field,
    simc_tuning,
)

# Tumor-like plant: +10 K at full power fraction, 3 min time constant, 10 s dead time.
GAIN_K, TAU_S, DELAY_S, Y0_C, DT_S = 10.0, 180.0, 10.0, 37.0, 1.0


def simulate(
    pid: PID,
    duration_s: float,
    *,
    setpoints: dict[float, float] | None = None,
    actuator=lambda u: u,
    gain: float = GAIN_K,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed loop with an exact zero-order-hold FOPDT plant; ``actuator`` maps the
    controller output to the heating fraction reaching the plant."""
    n = int(duration_s / DT_S)
    a = math.exp(-DT_S / TAU_S)
    lag = int(DELAY_S / DT_S)
    queue = [0.0] * lag
    y = Y0_C
    t_out, y_out, u_out = np.zeros(n), np.zeros(n), np.zeros(n)
    for k in range(n):
        t = k * DT_S
        if setpoints and t in setpoints:
            pid.setpoint = setpoints[t]
        u = pid.update(y, t)
        t_out[k], y_out[k], u_out[k] = t, y, u
        queue.append(actuator(u))
        heat = queue.pop(0)
        y = Y0_C + (y - Y0_C) * a + gain * heat * (1 - a)
    return t_out, y_out, u_out


def tuned_pid(**kw: object) -> PID:
    g = simc_tuning(GAIN_K, TAU_S, DELAY_S, tau_c_s=30.0)
    return PID(g.kp, g.ki, g.kd, setpoint=43.0, output_limits=(0.0, 1.0), **kw)


@pytest.mark.parametrize("anti_windup", ["back_calculation", "conditional", "none"])
def test_closed_loop_reaches_setpoint_within_limits(anti_windup: str) -> None:
    pid = tuned_pid(anti_windup=anti_windup)
    t, y, u = simulate(pid, 1500.0)
    assert abs(y[-1] - 43.0) < 1e-3  # no steady-state error
    assert u[-1] == pytest.approx(0.6, abs=1e-3)  # 6 K / (10 K per unit)
    assert np.all((u >= 0.0) & (u <= 1.0))
    assert u.max() == 1.0  # the start saturates the output
    if anti_windup != "none":
        assert y.max() < 43.1


def test_anti_windup_limits_overshoot_after_saturation() -> None:
    # Tight tuning; the output limit 0.8 (plant ceiling 45 C) keeps it saturated for minutes.
    overshoot = {}
    for mode in ("back_calculation", "conditional", "none"):
        g = simc_tuning(GAIN_K, TAU_S, DELAY_S, tau_c_s=10.0)
        pid = PID(g.kp, g.ki, setpoint=43.0, output_limits=(0.0, 0.8), anti_windup=mode)
        t, y, u = simulate(pid, 3000.0)
        assert np.all(u <= 0.8)
        assert abs(y[-1] - 43.0) < 0.01
        overshoot[mode] = y.max() - 43.0
    assert overshoot["none"] > 1.0
    assert overshoot["back_calculation"] < 0.2 * overshoot["none"]
    assert overshoot["conditional"] < 0.2 * overshoot["none"]


def test_derivative_on_measurement_gives_no_kick_on_setpoint_change() -> None:
    kp, ki, kd = 0.2, 0.002, 5.0
    pid = PID(kp, ki, kd, setpoint=43.0, output_limits=(0.0, 1.0))
    _, y, _ = simulate(pid, 2000.0)
    _, _, d_before = pid.components
    u_before = pid.output
    y_now = y[-1]
    pid.setpoint = 44.0
    u_after = pid.update(y_now, 2000.0)
    _, _, d_after = pid.components
    assert abs(d_after) < 1e-6 and abs(d_before) < 1e-6
    # only P and one integral step: far from the kd * 1 K / 1 s = 5 a derivative kick gives
    assert u_after - u_before == pytest.approx(kp * 1.0 + ki * (44.0 - y_now), abs=1e-6)


def test_first_update_is_p_only_and_reset_output_is_bumpless() -> None:
    pid = PID(2.0, 1.0, 5.0, setpoint=43.0)
    assert pid.update(40.0, 100.0) == 6.0
    assert pid.components == (6.0, 0.0, 0.0)
    pid.reset(output=0.4)
    assert pid.update(40.0, 200.0) == pytest.approx(0.4)
    assert pid.integral == pytest.approx(0.4 - 6.0)
    clamped = PID(2.0, setpoint=43.0, output_limits=(0.0, 1.0))
    assert clamped.update(40.0, 0.0) == 1.0


def test_integral_uses_irregular_time_steps() -> None:
    pid = PID(0.0, 0.5, setpoint=2.0)
    outputs = [pid.update(0.0, t) for t in (10.0, 10.3, 11.0, 13.5)]
    assert outputs == pytest.approx([0.0, 0.3, 1.0, 3.5])
    assert pid.update(0.0, 13.5) == pytest.approx(3.5)  # same time: unchanged
    with pytest.raises(ValueError, match="backwards"):
        pid.update(0.0, 13.0)


def test_derivative_filter_first_order() -> None:
    pid = PID(0.0, 0.0, 1.0, derivative_filter_s=5.0)
    pid.update(0.0, 0.0)
    alpha = 5.0 / 6.0
    assert pid.update(1.0, 1.0) == pytest.approx(-(1 - alpha))
    assert pid.update(1.0, 2.0) == pytest.approx(-(1 - alpha) * alpha)
    unfiltered = PID(0.0, 0.0, 1.0)
    unfiltered.update(0.0, 0.0)
    assert unfiltered.update(1.0, 2.0) == pytest.approx(-0.5)


def test_limits_and_setpoint_can_change_while_running() -> None:
    pid = tuned_pid()
    t, y, u = simulate(pid, 2000.0, setpoints={800.0: 41.0})
    assert abs(y[-1] - 41.0) < 1e-3
    pid.output_limits = (0.0, 0.2)
    assert pid.update(y[-1], 2000.0) <= 0.2
    with pytest.raises(ValueError):
        pid.output_limits = (1.0, 0.0)
    with pytest.raises(ValueError):
        PID(1.0, anti_windup="magic")


def test_simc_and_imc_hand_values() -> None:
    g = simc_tuning(10.0, 180.0, 10.0, 30.0)
    assert g.kp == pytest.approx(180.0 / (10.0 * 40.0))
    assert g.ti_s == pytest.approx(160.0)  # min(180, 4 * 40)
    assert g.kd == 0.0
    assert simc_tuning(10.0, 180.0, 10.0).kp == pytest.approx(0.9)  # tau_c = delay
    # series PID with tau2: kc (1 + 1/(ti s))(1 + td s) -> kp = kc (1 + td/ti)
    g2 = simc_tuning(10.0, 180.0, 10.0, 30.0, tau2_s=20.0)
    assert g2.kp == pytest.approx(0.45 * (1 + 20 / 160))
    assert g2.ki == pytest.approx(0.45 / 160)
    assert g2.kd == pytest.approx(0.45 * 20)
    imc = imc_pid_tuning(10.0, 180.0, 10.0, 20.0)
    assert imc.kp == pytest.approx(185.0 / (10.0 * 25.0))
    assert imc.ti_s == pytest.approx(185.0)
    assert imc.td_s == pytest.approx(1800.0 / 370.0)
    assert PIDGains(1.0, 0.0).ti_s == math.inf
    with pytest.raises(ValueError):
        simc_tuning(10.0, 180.0, 0.0, 0.0)


def test_fit_fopdt_step_recovers_plant() -> None:
    t = np.arange(0.0, 1500.0, 1.0)
    x = np.clip(t - 100.0 - DELAY_S, 0.0, None)
    y = Y0_C + GAIN_K * 0.5 * -np.expm1(-x / TAU_S)
    y = y + 0.05 * np.random.default_rng(2).standard_normal(t.size)
    m = fit_fopdt_step(t, y, step_time_s=100.0, step_size=0.5)
    assert m.gain == pytest.approx(GAIN_K, rel=0.01)
    assert m.tau_s == pytest.approx(TAU_S, rel=0.03)
    assert m.delay_s == pytest.approx(DELAY_S, abs=2.0)
    assert m.r_squared > 0.998


def test_square_law_actuator_linearised_by_power_fraction() -> None:
    h_max = 10000.0
    assert field_for_power_fraction(0.25, h_max) == pytest.approx(5000.0)
    assert field_for_power_fraction(1.7, h_max) == h_max
    assert field_for_power_fraction(-0.1, h_max) == 0.0
    assert power_fraction_for_field(field_for_power_fraction(0.37, h_max), h_max) == pytest.approx(
        0.37
    )

    # the plant heats with (H / H_max)^2; the PID works on the power fraction
    def coil(u: float) -> float:
        return power_fraction_for_field(field_for_power_fraction(u, h_max), h_max)

    t, y, u = simulate(tuned_pid(), 1500.0, actuator=coil)
    assert abs(y[-1] - 43.0) < 1e-3
    assert field_for_power_fraction(u[-1], h_max) == pytest.approx(h_max * math.sqrt(0.6), rel=1e-3)
