"""Magnetic nanoparticle heating in an alternating magnetic field (AMF).

Rosensweig's linear response theory (LRT):
R. E. Rosensweig, "Heating magnetic fluid with alternating magnetic field",
J. Magn. Magn. Mater. 252 (2002) 370-374.  The Langevin correction of the
equilibrium susceptibility follows the same paper (chi_0 = chi_i * 3/xi * L(xi)).

Units: SI throughout (m, s, K, A/m peak field, Hz, W).  ``H`` is the peak amplitude of
the applied field.  LRT holds for a Langevin parameter xi <~ 1-2 (below saturation);
at larger fields it overestimates the loss (the hysteresis regime of Stoner-Wohlfarth
particles is not modelled).  :func:`langevin_parameter` lets callers check.

Eddy-current heating of tissue in a solenoidal AMF follows from Faraday's law for a
uniform field along the coil axis: E = pi f mu_0 H r (peak), P = sigma E^2 / 2
(Atkinson, Brezovich, Chakraborty, IEEE Trans. Biomed. Eng. 31 (1984) 70-75).

Optional (per particle, defaults keep the monodisperse simple model): a log-normal core
size distribution (``size_sigma``; the loss is integrated over the particles' volume
distribution with V_H following d, as Rosensweig 2002 does for polydisperse fluids),
and Brown's high-barrier Neel time ``tau_N = tau_0 (sqrt(pi)/2) exp(s) / sqrt(s)``,
s = K V / k_B T (W. F. Brown, Phys. Rev. 130 (1963) 1677; ``neel_model="brown"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

__all__ = [
    "MU0",
    "K_B",
    "FE_MASS_FRACTION_MAGNETITE",
    "Nanoparticle",
    "neel_time",
    "size_quadrature",
    "brownian_time",
    "relaxation_time",
    "langevin_parameter",
    "initial_susceptibility",
    "equilibrium_susceptibility",
    "power_density",
    "slp",
    "slp_per_fe",
    "ilp",
    "eddy_power_density",
]

MU0 = 4e-7 * math.pi  #: vacuum permeability, T m / A (H/m)
K_B = 1.380649e-23  #: Boltzmann constant, J/K
FE_MASS_FRACTION_MAGNETITE = 0.724  #: mass of Fe per mass of Fe3O4 (3 x 55.845 / 231.53)


@dataclass(frozen=True)
class Nanoparticle:
    """A single-domain iron oxide nanoparticle (magnetite by default).

    Attributes are SI: diameters and thickness in m, ``Md_A_m`` the domain
    magnetization (A/m, bulk magnetite 446 kA/m), ``K_J_m3`` the effective anisotropy
    energy density (J/m^3), ``rho_kg_m3`` the core density, ``tau0_s`` the Neel
    attempt time, ``viscosity_Pa_s`` the carrier viscosity (water 1e-3 Pa s).
    """

    core_diameter_m: float = 15e-9
    shell_thickness_m: float = 5e-9
    Md_A_m: float = 446e3
    K_J_m3: float = 14e3
    rho_kg_m3: float = 5180.0
    tau0_s: float = 1e-9
    viscosity_Pa_s: float = 1e-3
    #: log-normal sigma of the core diameter (0: monodisperse); ``core_diameter_m`` is then
    #: the median of the number distribution
    size_sigma: float = 0.0
    #: "simple" (tau_0 exp(s)) or "brown" (Brown's high-barrier form)
    neel_model: str = "simple"

    def __post_init__(self) -> None:
        for name in (
            "core_diameter_m",
            "Md_A_m",
            "K_J_m3",
            "rho_kg_m3",
            "tau0_s",
            "viscosity_Pa_s",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"Nanoparticle.{name} must be > 0, not {getattr(self, name)!r}")
        if not 0.0 <= self.size_sigma <= 1.0:
            raise ValueError(f"Nanoparticle.size_sigma must be in [0, 1], not {self.size_sigma!r}")
        if self.neel_model not in ("simple", "brown"):
            raise ValueError(
                f"Nanoparticle.neel_model must be 'simple' or 'brown', not {self.neel_model!r}"
            )
        if self.shell_thickness_m < 0:
            raise ValueError(
                f"Nanoparticle.shell_thickness_m must be >= 0, not {self.shell_thickness_m!r}"
            )

    def describe(self) -> str:
        """What a protocol or report says about the particle, from its parameters."""
        spread = f" (log-normal sigma {self.size_sigma:g})" if self.size_sigma else ""
        return (
            f"iron oxide core {self.core_diameter_m * 1e9:.3g} nm{spread}, shell "
            f"{self.shell_thickness_m * 1e9:.3g} nm, Md {self.Md_A_m / 1e3:.3g} kA/m, "
            f"K {self.K_J_m3 / 1e3:.3g} kJ/m^3"
        )

    @property
    def volume_m3(self) -> float:
        """Magnetic core volume V = pi d^3 / 6, m^3."""
        return math.pi * self.core_diameter_m**3 / 6.0

    @property
    def hydrodynamic_diameter_m(self) -> float:
        """d_H = d + 2 delta, m."""
        return self.core_diameter_m + 2.0 * self.shell_thickness_m

    @property
    def hydrodynamic_volume_m3(self) -> float:
        """V_H = pi d_H^3 / 6, m^3."""
        return math.pi * self.hydrodynamic_diameter_m**3 / 6.0


def neel_time(p: Nanoparticle, T_K: float) -> float:
    """Neel relaxation time, s: tau_0 exp(s) (``neel_model="simple"``) or Brown's (1963)
    high-barrier form tau_0 (sqrt(pi)/2) exp(s) / sqrt(s), s = K V / k_B T."""
    s = min(p.K_J_m3 * p.volume_m3 / (K_B * T_K), 700.0)  # beyond: blocked (no overflow)
    if p.neel_model == "brown":
        return p.tau0_s * math.sqrt(math.pi) / 2.0 * math.exp(s) / math.sqrt(s)
    return p.tau0_s * math.exp(s)


def size_quadrature(p: Nanoparticle, n: int = 48) -> list[tuple[Nanoparticle, float]]:
    """Monodisperse particles and their volume (mass) fractions standing for ``p``'s
    log-normal distribution: Gauss-Hermite nodes of the volume-weighted log-normal (median
    d exp(3 sigma^2), same sigma); ``[(p, 1.0)]`` when monodisperse."""
    if p.size_sigma == 0:
        return [(p, 1.0)]
    x, w = np.polynomial.hermite.hermgauss(n)
    mu = math.log(p.core_diameter_m) + 3.0 * p.size_sigma**2
    return [
        (
            replace(
                p, core_diameter_m=math.exp(mu + math.sqrt(2.0) * p.size_sigma * xk), size_sigma=0.0
            ),
            float(wk / math.sqrt(math.pi)),
        )
        for xk, wk in zip(x, w, strict=True)
    ]


def brownian_time(p: Nanoparticle, T_K: float) -> float:
    """Brownian rotation time tau_B = 3 eta V_H / (k_B T), s."""
    return 3.0 * p.viscosity_Pa_s * p.hydrodynamic_volume_m3 / (K_B * T_K)


def relaxation_time(p: Nanoparticle, T_K: float, immobilized: bool = False) -> float:
    """Effective time 1/tau = 1/tau_N + 1/tau_B; Neel only when ``immobilized`` (tissue), s."""
    tau_n = neel_time(p, T_K)
    if immobilized:
        return tau_n
    tau_b = brownian_time(p, T_K)
    return tau_n * tau_b / (tau_n + tau_b)


def langevin_parameter(p: Nanoparticle, field_A_m: float, T_K: float) -> float:
    """xi = mu_0 M_d H V / (k_B T) (dimensionless); LRT is reliable for xi <~ 1-2."""
    return MU0 * p.Md_A_m * field_A_m * p.volume_m3 / (K_B * T_K)


def initial_susceptibility(p: Nanoparticle, phi: float, T_K: float) -> float:
    """chi_i = mu_0 phi M_d^2 V / (3 k_B T) for volume fraction ``phi`` (dimensionless)."""
    return MU0 * phi * p.Md_A_m**2 * p.volume_m3 / (3.0 * K_B * T_K)


def _langevin_factor(xi: float) -> float:
    """3/xi * (coth(xi) - 1/xi), -> 1 as xi -> 0 (series below 1e-3)."""
    if xi < 1e-3:
        return 1.0 - xi**2 / 15.0
    return 3.0 / xi * (1.0 / math.tanh(xi) - 1.0 / xi)


def equilibrium_susceptibility(p: Nanoparticle, phi: float, field_A_m: float, T_K: float) -> float:
    """chi_0 = chi_i * (3/xi) (coth xi - 1/xi) (Rosensweig 2002, eq. 12)."""
    xi = langevin_parameter(p, field_A_m, T_K)
    return initial_susceptibility(p, phi, T_K) * _langevin_factor(xi)


def power_density(
    p: Nanoparticle,
    phi: float,
    frequency_Hz: float,
    field_A_m: float,
    T_K: float = 310.0,
    immobilized: bool = False,
) -> float:
    """Volumetric heating P = mu_0 pi chi_0 H^2 f (2 pi f tau)/(1 + (2 pi f tau)^2), W/m^3.

    ``phi`` is the magnetic volume fraction of the sample; ``immobilized`` blocks
    Brownian rotation (particles bound in tissue: Neel relaxation only).
    """
    if frequency_Hz <= 0 or field_A_m <= 0 or phi <= 0:
        return 0.0
    if p.size_sigma > 0:  # each size class holds its volume fraction of the particles
        return sum(
            power_density(q, phi * w, frequency_Hz, field_A_m, T_K, immobilized)
            for q, w in size_quadrature(p)
        )
    tau = relaxation_time(p, T_K, immobilized)
    x = 2.0 * math.pi * frequency_Hz * tau
    chi0 = equilibrium_susceptibility(p, phi, field_A_m, T_K)
    return MU0 * math.pi * chi0 * field_A_m**2 * frequency_Hz * x / (1.0 + x * x)


def slp(
    p: Nanoparticle,
    frequency_Hz: float,
    field_A_m: float,
    T_K: float = 310.0,
    immobilized: bool = False,
) -> float:
    """Specific loss power SLP = P / (phi rho), W per kg of magnetic material (Fe3O4).

    Independent of phi in LRT (non-interacting particles).
    """
    phi = 1e-3  # cancels: P is proportional to phi
    return power_density(p, phi, frequency_Hz, field_A_m, T_K, immobilized) / (phi * p.rho_kg_m3)


def slp_per_fe(
    p: Nanoparticle,
    frequency_Hz: float,
    field_A_m: float,
    T_K: float = 310.0,
    immobilized: bool = False,
) -> float:
    """SLP per kg of iron, W/kg Fe (= mW/mg Fe = W/g Fe / 1000): SLP / 0.724."""
    return slp(p, frequency_Hz, field_A_m, T_K, immobilized) / FE_MASS_FRACTION_MAGNETITE


def ilp(slp_W_per_kg: float, frequency_Hz: float, field_A_m: float) -> float:
    """Intrinsic loss power ILP = SLP / (H^2 f) in nH m^2 / kg (SLP in W/kg)."""
    if frequency_Hz <= 0 or field_A_m <= 0:
        return 0.0
    return slp_W_per_kg / (field_A_m**2 * frequency_Hz) * 1e9


def eddy_power_density(
    sigma_S_m: float, frequency_Hz: float, field_A_m: float, radius_m: float | np.ndarray
) -> float | np.ndarray:
    """Eddy-current heating 0.5 sigma (pi mu_0 f H r)^2 at distance r from the coil axis, W/m^3."""
    return 0.5 * sigma_S_m * (math.pi * MU0 * frequency_Hz * field_A_m * np.asarray(radius_m)) ** 2
