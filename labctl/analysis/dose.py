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

Dose of a volume rather than of one point (Oleson et al. 1993; Dewhirst et al. 2003):
``T90``/``T50`` is the temperature reached by at least 90 %/50 % of the volume
(:func:`temperature_exceeded_by`), and CEM43T90 the CEM43 of the T90(t) record.  For
ablative temperatures (above about 50 C) the Arrhenius damage integral
``Omega = integral A exp(-Ea / (R T)) dt`` (Henriques 1947: A = 3.1e98 1/s,
Ea = 6.28e5 J/mol; Omega = 1 is 63 % damage) replaces CEM43 (:func:`arrhenius_damage`).
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
    "temperature_exceeded_by",
    "arrhenius_damage",
    "volume_dose",
    "HENRIQUES_A_PER_S",
    "HENRIQUES_EA_J_PER_MOL",
]

CEM43_DAMAGE_MIN = 60.0
"""CEM43 often taken as the onset of tissue damage, min."""

CEM43_NECROSIS_MIN = 240.0
"""CEM43 often taken as the threshold for necrosis, min."""

HENRIQUES_A_PER_S = 3.1e98
"""Arrhenius frequency factor of skin burns, 1/s (Henriques 1947)."""

HENRIQUES_EA_J_PER_MOL = 6.28e5
"""Arrhenius activation energy of skin burns, J/mol (Henriques 1947)."""

_R_GAS = 8.314462618  # J/(mol K)
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


def temperature_exceeded_by(
    T_C: np.ndarray, volume: np.ndarray | None = None, fraction: float = 0.9
) -> float:
    """Highest temperature reached by at least ``fraction`` of the volume, C.

    ``T_C``: temperatures of the volume elements; ``volume``: their volumes (any unit;
    equal if None).  ``fraction=0.9`` gives T90, 0.5 T50.  NaN elements are ignored.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    T = np.asarray(T_C, dtype=float).ravel()
    w = np.ones_like(T) if volume is None else np.asarray(volume, dtype=float).ravel()
    if w.shape != T.shape:
        raise ValueError(f"T_C and volume differ in size ({T.size} vs {w.size})")
    ok = np.isfinite(T) & (w > 0)
    if not ok.any():
        return float("nan")
    order = np.argsort(T[ok])[::-1]
    Ts, cum = T[ok][order], np.cumsum(w[ok][order])
    k = int(np.searchsorted(cum, fraction * cum[-1] * (1 - 1e-12)))
    return float(Ts[min(k, Ts.size - 1)])


def arrhenius_damage(
    t_s: np.ndarray,
    T_C: np.ndarray,
    *,
    A_per_s: float = HENRIQUES_A_PER_S,
    Ea_J_per_mol: float = HENRIQUES_EA_J_PER_MOL,
) -> float:
    """Arrhenius damage integral Omega of a temperature record (dimensionless).

    Left rule, as :func:`cem43`: each sample's rate holds until the next.  NaN samples
    are dropped.  Omega = 1 is 63 % damage; defaults are Henriques' (1947) skin values.
    """
    t = np.asarray(t_s, dtype=float).ravel()
    T = np.asarray(T_C, dtype=float).ravel()
    if t.shape != T.shape:
        raise ValueError(f"t_s and T_C differ in length ({t.size} vs {T.size})")
    valid = np.isfinite(t) & np.isfinite(T)
    tv, Tv = t[valid], T[valid]
    dt = np.diff(tv)
    if np.any(dt < 0):
        raise ValueError("t_s must be non-decreasing")
    rate = A_per_s * np.exp(-Ea_J_per_mol / (_R_GAS * (Tv[:-1] + 273.15)))
    return float(np.sum(rate * dt))


def volume_dose(
    t_s: np.ndarray,
    T90_C: np.ndarray,
    T50_C: np.ndarray,
    Tmax_C: np.ndarray,
    *,
    hold_from_s: float | None = None,
) -> dict[str, float]:
    """Dose of a volume from its T90(t), T50(t) and Tmax(t) records (times in s).

    Returns ``T90_C``/``T50_C`` (time averages from ``hold_from_s``, or over the whole
    record), ``cem43_T90_min``/``cem43_T50_min`` (CEM43 of each record, min),
    ``arrhenius_omega_T90`` and ``arrhenius_omega_max`` (Henriques' Omega of the T90
    and hottest-element records; the latter bounds the damage anywhere in the volume).
    """
    t = np.asarray(t_s, dtype=float)
    T90, T50 = np.asarray(T90_C, dtype=float), np.asarray(T50_C, dtype=float)
    keep = np.ones(t.shape, bool) if hold_from_s is None else t >= hold_from_s - 1e-9
    return {
        "T90_C": float(np.nanmean(T90[keep])) if keep.any() else float("nan"),
        "T50_C": float(np.nanmean(T50[keep])) if keep.any() else float("nan"),
        "cem43_T90_min": cem43(t, T90),
        "cem43_T50_min": cem43(t, T50),
        "arrhenius_omega_T90": arrhenius_damage(t, T90),
        "arrhenius_omega_max": arrhenius_damage(t, Tmax_C),
    }
