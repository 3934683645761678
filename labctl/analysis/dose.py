"""Thermal dose as cumulative equivalent minutes at 43 C (CEM43).

Sapareto & Dewey, "Thermal dose determination in cancer therapy", Int. J. Radiat. Oncol.
Biol. Phys. 10, 787 (1984)::

    CEM43 = sum_i R^(43 - T_i) * dt_i      [min],   R = 0.5 for T >= 43 C, 0.25 below

Quadrature: ``rule="left"`` (default) holds each sample's temperature until the next
sample (the dose of an interval is known as soon as it ends, which suits live use);
``rule="trapezoid"`` averages the dose rates at both ends of each interval.  Sampling may
be irregular.  Samples with a NaN time or temperature are dropped, so the interval
bridges them; intervals longer than ``max_gap_s`` (if given) add no dose.  The array
functions and ``CEM43Accumulator`` perform the same floating-point operations in the same
order, so they agree exactly on the same samples.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CEM43_DAMAGE_MIN",
    "CEM43_NECROSIS_MIN",
    "CEM43Accumulator",
    "cem43",
    "cem43_constant",
    "cem43_cumulative",
    "cem43_rate",
    "time_to_dose_min",
]

CEM43_DAMAGE_MIN = 60.0
"""CEM43 often taken as the onset of tissue damage, min."""

CEM43_NECROSIS_MIN = 240.0
"""CEM43 often taken as the threshold for necrosis, min."""

_T_REF_C = 43.0
_RULES = ("left", "trapezoid")


def _rate(T_C: np.ndarray) -> np.ndarray:
    """Dose rate R^(43 - T), equivalent minutes per minute (array in, array out)."""
    R = np.where(T_C >= _T_REF_C, 0.5, 0.25)
    return np.power(R, _T_REF_C - T_C)


def cem43_rate(T_C: float | np.ndarray) -> float | np.ndarray:
    """Dose rate R^(43 - T) at temperature ``T_C``, equivalent minutes at 43 C per minute."""
    out = _rate(np.asarray(T_C, dtype=float))
    return float(out) if out.ndim == 0 else out


def cem43_constant(T_C: float, duration_min: float) -> float:
    """CEM43 of ``duration_min`` minutes at a constant ``T_C``, min."""
    return float(cem43_rate(T_C)) * duration_min


def time_to_dose_min(T_C: float, dose_min: float = CEM43_DAMAGE_MIN) -> float:
    """Minutes at a constant ``T_C`` needed to accumulate ``dose_min`` CEM43."""
    if dose_min < 0:
        raise ValueError(f"dose_min must be >= 0, got {dose_min}")
    return dose_min / float(cem43_rate(T_C))


def _check_rule(rule: str) -> None:
    if rule not in _RULES:
        raise ValueError(f"rule must be one of {_RULES}, got {rule!r}")


def _interval_terms(
    t_s: np.ndarray, T_C: np.ndarray, rule: str, max_gap_s: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Valid-sample mask and the dose of each interval between valid samples, in
    equivalent seconds."""
    _check_rule(rule)
    t = np.asarray(t_s, dtype=float).ravel()
    T = np.asarray(T_C, dtype=float).ravel()
    if t.shape != T.shape:
        raise ValueError(f"t_s and T_C differ in length ({t.size} vs {T.size})")
    valid = np.isfinite(t) & np.isfinite(T)
    tv, Tv = t[valid], T[valid]
    dt = np.diff(tv)
    if np.any(dt < 0):
        raise ValueError("t_s must be non-decreasing")
    r = _rate(Tv)
    terms = r[:-1] * dt if rule == "left" else (r[:-1] + r[1:]) * 0.5 * dt
    if max_gap_s is not None:
        terms = np.where(dt > max_gap_s, 0.0, terms)
    return valid, terms


def cem43(
    t_s: np.ndarray,
    T_C: np.ndarray,
    *,
    rule: str = "left",
    max_gap_s: float | None = None,
) -> float:
    """Total CEM43 of a temperature record, min (``t_s`` in seconds, ``T_C`` in C)."""
    _, terms = _interval_terms(t_s, T_C, rule, max_gap_s)
    if terms.size == 0:
        return 0.0
    return float(np.cumsum(terms)[-1] / 60.0)


def cem43_cumulative(
    t_s: np.ndarray,
    T_C: np.ndarray,
    *,
    rule: str = "left",
    max_gap_s: float | None = None,
) -> np.ndarray:
    """CEM43 accumulated up to each sample, min; an invalid (NaN) sample carries the
    value of the last valid one (0 before the first)."""
    valid, terms = _interval_terms(t_s, T_C, rule, max_gap_s)
    acc_valid = np.concatenate(([0.0], np.cumsum(terms))) / 60.0 if valid.any() else np.zeros(0)
    out = np.zeros(valid.size)
    if acc_valid.size:
        # index of the last valid sample at or before each position
        idx = np.cumsum(valid) - 1
        have = idx >= 0
        out[have] = acc_valid[idx[have]]
    return out


class CEM43Accumulator:
    """Live CEM43: feed samples one at a time with ``add(t_s, T_C)``; ``value_min`` equals
    ``cem43`` of the same samples (same rule and ``max_gap_s``) exactly."""

    def __init__(self, *, rule: str = "left", max_gap_s: float | None = None) -> None:
        _check_rule(rule)
        self.rule = rule
        self.max_gap_s = max_gap_s
        self.reset()

    def reset(self) -> None:
        """Forget all samples; the dose returns to 0."""
        self._acc_s = 0.0
        self._t_prev: float | None = None
        self._r_prev = 0.0
        self.n_samples = 0

    @property
    def value_min(self) -> float:
        """Accumulated CEM43, min."""
        return self._acc_s / 60.0

    @property
    def last_t_s(self) -> float | None:
        """Time of the last valid sample, s (None before the first)."""
        return self._t_prev

    def add(self, t_s: float, T_C: float) -> float:
        """Add one sample; returns the accumulated CEM43 in minutes.  NaN samples are
        ignored; a time before the previous sample raises ``ValueError``."""
        t, T = float(t_s), float(T_C)
        if not (np.isfinite(t) and np.isfinite(T)):
            return self.value_min
        r = float(_rate(np.array([T]))[0])
        if self._t_prev is not None:
            dt = t - self._t_prev
            if dt < 0:
                raise ValueError(f"sample at t={t} s is before the previous one ({self._t_prev} s)")
            term = self._r_prev * dt if self.rule == "left" else (self._r_prev + r) * 0.5 * dt
            if self.max_gap_s is None or not dt > self.max_gap_s:
                self._acc_s += term
        self._t_prev, self._r_prev = t, r
        self.n_samples += 1
        return self.value_min
