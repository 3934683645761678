"""Thermosensitive liposomes: heat-triggered release of a self-quenched fluorescent cargo.

Release rate (1/s), a steep logistic function of temperature around the transition::

    k_r(T) = k_37 + (k_max - k_37) / (1 + exp(-(T - T_c) / w))

with ``T_c`` = 41.5 C (lysolipid thermosensitive liposomes, LTSL: D. Needham et al.,
Cancer Res. 60 (2000) 1197 report about half of the contents released within ~20 s at
42 C and slow leakage at 37 C; the temperature-dependent first-order release of
A. Gasselhuber et al., Int. J. Hyperthermia 28 (2012) 337 has the same shape).  Defaults:
``k_max`` = 0.04 /s (half in ~20 s at 42 C), ``w`` = 0.25 C (10-90 % of the rise within
~1.1 C), leakage half-time 12 h at body temperature (DPPC-based thermosensitive
liposomes keep their contents for hours at 37 C: G. Kong et al., Cancer Res. 60 (2000)
6950; lysolipid formulations leak faster, so this is a parameter).  A non-thermosensitive liposome
(``thermosensitive=False``, e.g. a PEGylated DSPC/cholesterol bilayer) keeps ``k_37`` at
every temperature.

Compartments (tumor volume means, cargo in the agent's concentration unit), driven by
the liposome's plasma level ``C_p`` (the Bateman kinetics of :mod:`.agent`)::

    dC_p/dt = -k_el C_p                                   liposomes in plasma
    dL/dt   = K_trans C_p - (k_ep + k_r) L                encapsulated, interstitial
    dF/dt   = k_r (L + v_p C_p) - k_free F                released (free) cargo
    dR/dt   = k_r (L + v_p C_p)                           cumulative release

``v_p`` is the tumor's plasma volume fraction: liposomes passing through the heated
vasculature release there and the free cargo crosses into the interstitium (intravascular
triggered release: M. R. Dreher / A. A. Manzoor et al., Cancer Res. 72 (2012) 5566);
``k_free`` clears the free cargo (perfusion washout of a small dye, half-life 20 min).
For a piecewise-constant temperature the system is linear with constant coefficients and
is advanced exactly by a matrix exponential, so days at 37 C cost one step.

Readout: the cargo is self-quenched inside the liposome (carboxyfluorescein or calcein
at 50-100 mM keeps a few % of its fluorescence; J. N. Weinstein et al., Science 195
(1977) 489), so emission ~ ``q (L + v_p C_p) + F`` with ``q`` the quenched fraction (a
batch property measured in vitro by detergent lysis).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import expm

__all__ = ["LiposomeParams", "LiposomeState", "release_rate"]

_HOUR = 3600.0


@dataclass(frozen=True)
class LiposomeParams:
    """Release and readout parameters (module doc); units in the names."""

    thermosensitive: bool = True
    transition_C: float = 41.5
    width_C: float = 0.25
    k_max_per_s: float = 0.04
    leak_half_time_h: float = 12.0
    quench: float = 0.04  #: fluorescence left to the encapsulated cargo (fraction)
    free_half_life_min: float = 20.0
    plasma_fraction: float = 0.05 * (1 - 0.45)  #: tumor blood volume x (1 - hematocrit)

    def __post_init__(self) -> None:
        for name in ("width_C", "k_max_per_s", "leak_half_time_h", "free_half_life_min"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"liposome parameter {name} must be > 0, not {v!r}")
        if not (0 < self.quench < 1) or not (0 <= self.plasma_fraction < 1):
            raise ValueError("liposome quench must be in (0, 1) and plasma_fraction in [0, 1)")
        if not math.isfinite(self.transition_C):
            raise ValueError("liposome transition_C must be finite")

    @property
    def k_37_per_s(self) -> float:
        return math.log(2.0) / (self.leak_half_time_h * _HOUR)

    @property
    def k_free_per_s(self) -> float:
        return math.log(2.0) / (self.free_half_life_min * 60.0)


def release_rate(params: LiposomeParams, T_C: float | np.ndarray) -> float | np.ndarray:
    """``k_r(T)`` in 1/s (module doc)."""
    T = np.asarray(T_C, dtype=float)
    k0 = params.k_37_per_s
    if not params.thermosensitive:
        out = np.full_like(T, k0)
    else:
        z = np.clip((T - params.transition_C) / params.width_C, -60.0, 60.0)
        out = k0 + (params.k_max_per_s - k0) / (1.0 + np.exp(-z))
    return float(out) if out.ndim == 0 else out


class LiposomeState:
    """The compartments of one tumor over time, ``x = [C_p, L, F, R]``.

    ``k_el``, ``k_trans``, ``k_ep`` (1/s) are the liposome's plasma clearance, transfer
    into and washout from the tumor interstitium (:class:`~.agent.AgentParams`).
    """

    def __init__(
        self,
        params: LiposomeParams,
        k_el: float,
        k_trans: float,
        k_ep: float,
        x: list | None = None,
        t_s: float = 0.0,
    ) -> None:
        self.params = params
        self.k = (float(k_el), float(k_trans), float(k_ep))
        self.x = np.zeros(4) if x is None else np.asarray(x, dtype=float)
        self.t_s = float(t_s)

    def inject(self, plasma0: float) -> None:
        """A bolus raising the plasma level by ``plasma0`` now."""
        self.x[0] += plasma0

    def _matrix(self, T_C: float) -> np.ndarray:
        k_el, k_trans, k_ep = self.k
        p = self.params
        kr = release_rate(p, T_C)
        return np.array(
            [
                [-k_el, 0.0, 0.0, 0.0],
                [k_trans, -(k_ep + kr), 0.0, 0.0],
                [kr * p.plasma_fraction, kr, -p.k_free_per_s, 0.0],
                [kr * p.plasma_fraction, kr, 0.0, 0.0],
            ]
        )

    def advance(self, dt_s: float, T_C: float = 37.0) -> None:
        """``dt_s`` seconds at a constant tumor temperature ``T_C`` (exact)."""
        if dt_s < 0 or not math.isfinite(dt_s) or not math.isfinite(T_C):
            raise ValueError(f"cannot advance by {dt_s!r} s at {T_C!r} C")
        if dt_s > 0:
            self.x = expm(self._matrix(T_C) * dt_s) @ self.x
            self.t_s += dt_s

    def follow(self, t_s: np.ndarray, T_C: np.ndarray) -> None:
        """Advance through a temperature record (sample ``i`` holds until ``i + 1``)."""
        t = np.asarray(t_s, dtype=float)
        T = np.asarray(T_C, dtype=float)
        ok = np.isfinite(t) & np.isfinite(T)
        t, T = t[ok], T[ok]
        for i in range(len(t) - 1):
            self.advance(max(t[i + 1] - t[i], 0.0), float(T[i]))

    @property
    def encapsulated(self) -> float:
        """Encapsulated cargo in the tumor: interstitial + tumor plasma."""
        return float(self.x[1] + self.params.plasma_fraction * self.x[0])

    @property
    def free(self) -> float:
        return float(self.x[2])

    def released_fraction(self) -> float:
        """Free cargo / all cargo now in the tumor."""
        total = self.encapsulated + self.free
        return self.free / total if total > 0 else 0.0

    def emission(self) -> float:
        """Relative emission of the tumor cargo, ``q * encapsulated + free``."""
        return self.params.quench * self.encapsulated + self.free
