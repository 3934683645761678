"""Least-squares helpers shared by the analysis modules (private to the package)."""

from __future__ import annotations

import numpy as np


def clean_series(t_s: np.ndarray, T_C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float arrays without NaN/inf samples; time must be non-decreasing."""
    t = np.asarray(t_s, dtype=float).ravel()
    T = np.asarray(T_C, dtype=float).ravel()
    if t.shape != T.shape:
        raise ValueError(f"t_s and T_C differ in length ({t.size} vs {T.size})")
    ok = np.isfinite(t) & np.isfinite(T)
    t, T = t[ok], T[ok]
    if np.any(np.diff(t) < 0):
        raise ValueError("t_s must be non-decreasing")
    return t, T


def poly_fit(
    x: np.ndarray, y: np.ndarray, order: int, w: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least squares polynomial, coefficients in increasing powers.

    Returns ``(coef, cov, residuals)``; ``cov`` is scaled by the residual variance.
    ``w`` are weights (inverse variances up to a common factor).
    """
    n = x.size
    if n < order + 2:
        raise ValueError(f"need at least {order + 2} samples for an order-{order} fit, got {n}")
    X = np.vander(x, order + 1, increasing=True)
    sw = np.ones(n) if w is None else np.sqrt(w)
    coef, *_ = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)
    resid = y - X @ coef
    s2 = float(np.sum((sw * resid) ** 2) / (n - order - 1))
    cov = s2 * np.linalg.pinv((X * sw[:, None]).T @ (X * sw[:, None]))
    return coef, cov, resid


def r_squared(y: np.ndarray, resid: np.ndarray) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot (NaN for constant ``y``)."""
    ss_tot = float(np.sum((y - np.mean(y)) ** 2))
    ss_res = float(np.sum(resid**2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def residual_std(resid: np.ndarray, n_params: int) -> float:
    """Residual standard deviation with ``n_params`` fitted parameters."""
    dof = max(resid.size - n_params, 1)
    return float(np.sqrt(np.sum(resid**2) / dof))


def phi(x: np.ndarray) -> np.ndarray:
    """(1 - exp(-x)) / x, continuous at x = 0."""
    x = np.asarray(x, dtype=float)
    small = np.abs(x) < 1e-9
    xs = np.where(small, 1.0, x)
    return np.where(small, 1.0 - 0.5 * x, -np.expm1(-xs) / xs)
