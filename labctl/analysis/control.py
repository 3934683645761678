"""Temperature control: a discrete PID, tuning rules and actuator linearisation.

``PID`` is the parallel form with setpoint weighting and derivative on the measurement
(Astrom & Hagglund, "Advanced PID Control", ISA 2006, ch. 3)::

    u = kp (b r - y) + I + D,     dI/dt = ki (r - y),     Tf dD/dt + D = -kd dy/dt

(``b`` = ``setpoint_weight``, ``Tf`` = ``derivative_filter_s``, 0 for no filter),
clamped to ``output_limits``.  Anti-windup by conditional integration (default: the
integral is frozen while the output is saturated and the error drives it further) or by
back-calculation (the integral tracks the saturated output with time constant
``tracking_time_s``, default sqrt(Ti Td), Ti for a PI; faster recovery from saturation
but with Ti a small overshoot remains).  The first ``update`` after construction or ``reset``
returns the P term only (no integral step, no derivative kick); ``reset(output=u0)``
makes it return ``u0`` instead (bumpless hand-over from manual output).  Time comes from
the caller (``update(y, t_s)``), so the controller runs unchanged on WallClock or
SimClock.

Tuning for a first-order-plus-dead-time (FOPDT) plant ``K exp(-theta s) / (tau s + 1)``:
``simc_tuning`` (Skogestad, J. Process Control 13, 291, 2003) and ``imc_pid_tuning``
(Rivera, Morari & Skogestad, Ind. Eng. Chem. Process Des. Dev. 25, 252, 1986);
``fit_fopdt_step`` identifies K, tau and theta from a step test.

Magnetic heating power goes as H^2 (and laser heating as power): controlling the power
fraction ``u = (H / H_max)^2`` makes the plant linear in the controller output;
``field_for_power_fraction`` converts back to the field amplitude to command.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from labctl.analysis._fitting import r_squared

__all__ = [
    "PID",
    "PIDGains",
    "FOPDTModel",
    "simc_tuning",
    "imc_pid_tuning",
    "fit_fopdt_step",
    "field_for_power_fraction",
    "power_fraction_for_field",
]

_ANTI_WINDUP = ("back_calculation", "conditional", "none")


@dataclass(frozen=True)
class PIDGains:
    """Parallel-form gains: kp (output/unit), ki (output/(unit s)), kd (output s/unit)."""

    kp: float
    ki: float
    kd: float = 0.0

    @property
    def ti_s(self) -> float:
        """Integral time kp/ki, s (inf without integral action)."""
        return self.kp / self.ki if self.ki else math.inf

    @property
    def td_s(self) -> float:
        """Derivative time kd/kp, s."""
        return self.kd / self.kp if self.kp else 0.0


class PID:
    """Discrete PID with output limits, anti-windup and derivative on measurement."""

    def __init__(
        self,
        kp: float,
        ki: float = 0.0,
        kd: float = 0.0,
        setpoint: float = 0.0,
        *,
        output_limits: tuple[float | None, float | None] = (None, None),
        anti_windup: str = "conditional",
        tracking_time_s: float | None = None,
        derivative_filter_s: float = 0.0,
        setpoint_weight: float = 1.0,
    ) -> None:
        if anti_windup not in _ANTI_WINDUP:
            raise ValueError(f"anti_windup must be one of {_ANTI_WINDUP}, got {anti_windup!r}")
        if derivative_filter_s < 0:
            raise ValueError("derivative_filter_s must be >= 0")
        if tracking_time_s is not None and tracking_time_s <= 0:
            raise ValueError("tracking_time_s must be positive")
        self.kp, self.ki, self.kd = float(kp), float(ki), float(kd)
        self.setpoint = float(setpoint)
        self.anti_windup = anti_windup
        self.tracking_time_s = tracking_time_s
        self.derivative_filter_s = float(derivative_filter_s)
        self.setpoint_weight = float(setpoint_weight)
        self._limits: tuple[float, float] = (-math.inf, math.inf)
        self.output_limits = output_limits
        self.reset()

    # -- configuration ---------------------------------------------------------------
    @property
    def output_limits(self) -> tuple[float, float]:
        """(low, high) output clamp; ``None`` in the setter means unbounded."""
        return self._limits

    @output_limits.setter
    def output_limits(self, limits: tuple[float | None, float | None]) -> None:
        lo = -math.inf if limits[0] is None else float(limits[0])
        hi = math.inf if limits[1] is None else float(limits[1])
        if not lo < hi:
            raise ValueError(f"output_limits low ({lo}) must be below high ({hi})")
        self._limits = (lo, hi)

    def _tracking_time(self) -> float:
        if self.tracking_time_s is not None:
            return self.tracking_time_s
        ti = self.kp / self.ki if self.ki and self.kp else math.inf
        td = self.kd / self.kp if self.kp else 0.0
        if math.isinf(ti):
            return math.inf
        return math.sqrt(ti * td) if td > 0 else ti

    # -- state -----------------------------------------------------------------------
    def reset(self, output: float | None = None) -> None:
        """Forget the history; the next update gives the P term only, or ``output`` if
        given (the integral is initialised so that the first output equals it)."""
        self._integral = 0.0
        self._derivative = 0.0
        self._t_prev: float | None = None
        self._y_prev = 0.0
        self._initial_output = output
        self._output: float | None = None
        self._terms = (0.0, 0.0, 0.0)

    @property
    def output(self) -> float | None:
        """Last output (None before the first update)."""
        return self._output

    @property
    def components(self) -> tuple[float, float, float]:
        """(P, I, D) terms of the last update, before the output clamp."""
        return self._terms

    @property
    def integral(self) -> float:
        """Current integral term (output units)."""
        return self._integral

    def _clamp(self, v: float) -> float:
        lo, hi = self._limits
        return min(max(v, lo), hi)

    # -- step ------------------------------------------------------------------------
    def update(self, measurement: float, t_s: float) -> float:
        """New output for ``measurement`` taken at time ``t_s`` (s, any origin).

        A repeated time returns the previous output; a time before the previous one
        raises ``ValueError``.
        """
        y, t = float(measurement), float(t_s)
        if not math.isfinite(y):
            raise ValueError(f"measurement must be finite, got {measurement}")
        p = self.kp * (self.setpoint_weight * self.setpoint - y)
        if self._t_prev is None:
            if self._initial_output is not None:
                self._integral = self._clamp(self._initial_output) - p
            self._derivative = 0.0
            return self._finish(p, y, t)
        dt = t - self._t_prev
        if dt < 0:
            raise ValueError(f"time went backwards: {t} s after {self._t_prev} s")
        if dt == 0:
            return float(self._output)  # type: ignore[arg-type]
        d_raw = -self.kd * (y - self._y_prev) / dt
        alpha = self.derivative_filter_s / (self.derivative_filter_s + dt)
        self._derivative = alpha * self._derivative + (1.0 - alpha) * d_raw
        increment = self.ki * (self.setpoint - y) * dt
        i_new = self._integral + increment
        v = p + i_new + self._derivative
        u = self._clamp(v)
        if self.anti_windup == "conditional" and u != v and (v > u) == (increment > 0):
            i_new = self._integral  # saturated and integrating further: freeze
        elif self.anti_windup == "back_calculation" and u != v:
            i_new += -math.expm1(-dt / self._tracking_time()) * (u - v)
        self._integral = i_new
        return self._finish(p, y, t)

    def _finish(self, p: float, y: float, t: float) -> float:
        d = self._derivative
        self._terms = (p, self._integral, d)
        self._output = self._clamp(p + self._integral + d)
        self._t_prev, self._y_prev = t, y
        return self._output


# ------------------------------------------------------------------------------ tuning


def _series_to_parallel(kc: float, ti: float, td: float) -> PIDGains:
    """Series (interacting) PID kc (1 + 1/(ti s)) (1 + td s) in parallel-form gains."""
    return PIDGains(kp=kc * (1.0 + td / ti), ki=kc / ti, kd=kc * td)


def simc_tuning(
    gain: float,
    tau_s: float,
    delay_s: float,
    tau_c_s: float | None = None,
    *,
    tau2_s: float = 0.0,
) -> PIDGains:
    """SIMC PI(D) gains for ``gain exp(-delay s) / ((tau s + 1)(tau2 s + 1))``.

    ``Kc = tau / (gain (tau_c + delay))``, ``Ti = min(tau, 4 (tau_c + delay))``,
    ``Td = tau2`` (series form, converted to parallel gains).  ``tau_c_s`` is the desired
    closed-loop time constant, default ``delay_s`` ("tight" control); larger is slower
    and more robust.  ``gain`` is in measurement units per output unit (e.g. K per unit
    power fraction).
    """
    if tau_s <= 0 or delay_s < 0 or tau2_s < 0 or gain == 0:
        raise ValueError("need tau_s > 0, delay_s >= 0, tau2_s >= 0 and gain != 0")
    tc = delay_s if tau_c_s is None else tau_c_s
    if tc + delay_s <= 0:
        raise ValueError("tau_c_s must be positive when delay_s is 0")
    kc = tau_s / (gain * (tc + delay_s))
    ti = min(tau_s, 4.0 * (tc + delay_s))
    return _series_to_parallel(kc, ti, tau2_s)


def imc_pid_tuning(gain: float, tau_s: float, delay_s: float, tau_c_s: float) -> PIDGains:
    """IMC-PID gains for a FOPDT plant (first-order Pade approximation of the delay).

    ``Kc = (tau + delay/2) / (gain (tau_c + delay/2))``, ``Ti = tau + delay/2``,
    ``Td = tau delay / (2 tau + delay)``; ``tau_c_s`` > 0.8 ``delay_s`` is recommended.
    """
    if tau_s <= 0 or delay_s < 0 or tau_c_s <= 0 or gain == 0:
        raise ValueError("need tau_s > 0, delay_s >= 0, tau_c_s > 0 and gain != 0")
    kc = (tau_s + delay_s / 2) / (gain * (tau_c_s + delay_s / 2))
    ti = tau_s + delay_s / 2
    td = tau_s * delay_s / (2 * tau_s + delay_s)
    return PIDGains(kp=kc, ki=kc / ti, kd=kc * td)


@dataclass(frozen=True)
class FOPDTModel:
    """First-order-plus-dead-time model ``gain exp(-delay s) / (tau s + 1)``."""

    gain: float
    tau_s: float
    delay_s: float
    r_squared: float


def _fopdt_step(x: np.ndarray, y0: float, dy: float, tau: float, delay: float) -> np.ndarray:
    return y0 + dy * -np.expm1(-np.clip(x - delay, 0.0, None) / tau)


def fit_fopdt_step(
    t_s: np.ndarray, y: np.ndarray, *, step_time_s: float, step_size: float
) -> FOPDTModel:
    """FOPDT model from an open-loop step test: output steps by ``step_size`` at
    ``step_time_s``, ``y`` is the response (e.g. tumor temperature, C).  Samples before
    the step set the baseline; fit by non-linear least squares."""
    t = np.asarray(t_s, dtype=float).ravel()
    yy = np.asarray(y, dtype=float).ravel()
    ok = np.isfinite(t) & np.isfinite(yy)
    t, yy = t[ok], yy[ok]
    if step_size == 0 or t.size < 6:
        raise ValueError("need step_size != 0 and at least 6 finite samples")
    x = t - step_time_s
    pre = x <= 0
    y0 = float(np.mean(yy[pre])) if pre.any() else float(yy[0])
    post = x > 0
    if np.count_nonzero(post) < 4:
        raise ValueError("fewer than 4 samples after the step")
    dy0 = float(yy[post][-1] - y0)
    # time to 63 % of the final change as a start for tau, 5 % for the delay
    frac = (yy[post] - y0) / dy0 if dy0 else np.zeros(np.count_nonzero(post))
    xp = x[post]
    d0 = float(xp[np.argmax(frac > 0.05)]) if np.any(frac > 0.05) else 0.0
    t63 = float(xp[np.argmax(frac > 0.63)]) if np.any(frac > 0.63) else float(xp[-1])
    tau0 = max(t63 - d0, float(np.median(np.diff(xp))) if xp.size > 1 else 1.0)
    lo = [-np.inf, -np.inf, 1e-9, 0.0]
    from scipy.optimize import OptimizeWarning, curve_fit  # deferred: slow import

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        p, _ = curve_fit(
            _fopdt_step, x, yy, p0=[y0, dy0, tau0, d0], bounds=(lo, np.inf), x_scale="jac"
        )
    resid = yy - _fopdt_step(x, *p)
    return FOPDTModel(
        gain=float(p[1] / step_size),
        tau_s=float(p[2]),
        delay_s=float(p[3]),
        r_squared=r_squared(yy, resid),
    )


# ------------------------------------------------------------------------ linearisation


def field_for_power_fraction(power_fraction: float, field_max_A_m: float) -> float:
    """Field amplitude, A/m, giving ``power_fraction`` (0-1, clipped) of the heating at
    ``field_max_A_m``: ``H = H_max sqrt(u)`` since P ~ H^2."""
    return float(field_max_A_m * math.sqrt(min(max(power_fraction, 0.0), 1.0)))


def power_fraction_for_field(field_A_m: float, field_max_A_m: float) -> float:
    """Heating power fraction ``(H / H_max)^2`` of field amplitude ``field_A_m``."""
    if field_max_A_m <= 0:
        raise ValueError("field_max_A_m must be positive")
    return float((field_A_m / field_max_A_m) ** 2)
