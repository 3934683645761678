"""Tissue and sample optics: absorbers, diffusion-approximation fluence, laser safety.

Units: wavelengths in nm, lengths in cm, absorption/scattering coefficients in 1/cm,
irradiance and fluence rate in W/cm^2 (multiply mu_a [1/cm] * Phi [W/cm^2] * 1e6 for
W/m^3).  Extinction coefficients are *decadic* (absorbance per cm per concentration
unit); ``mu_a = ln(10) * eps * c`` (natural, 1/cm).

Absorbers and their concentration units (:data:`ABSORBER_UNITS`):

- ``HbO2``, ``Hb``: mol/L of hemoglobin (tetramer, 64 500 g/mol).  Molar extinction from
  S. Prahl's compilation (Oregon Medical Laser Center) of W. B. Gratzer and N. Kollias,
  600-1000 nm, shipped in ``data/hemoglobin_prahl.tsv``; held at the 1000 nm value
  beyond the table.
- ``water``: volume fraction.  Absorption of pure water, approximate values from
  G. M. Hale, M. R. Querry, Appl. Opt. 12 (1973) 555 and L. Kou, D. Labrie, P. Chylek,
  Appl. Opt. 32 (1993) 3531 (600-1300 nm, ~10-20 % accuracy).
- ``icg``: mol/L of indocyanine green; model band peaking near 800 nm (in plasma)
  with the vibronic shoulder near 720 nm, peak 1.9e5 /(M cm) (Landsman et al.,
  J. Appl. Physiol. 40 (1976) 575; Prahl's ICG compilation).
- ``gold_nanorod``: mg Au/mL; Lorentzian longitudinal plasmon band at 800 nm (FWHM
  120 nm) plus the transverse band at 520 nm.  Peak mass extinction 30 /cm per
  (mg Au/mL) (order of magnitude of reported rods, OD ~1 at ~30 ug Au/mL), treated as
  absorption (scattering is a small part of the extinction of ~10 nm wide rods).
- ``iron_oxide``: mg Fe/mL; broad featureless absorption falling with wavelength,
  0.3 /cm per (mg Fe/mL) at 808 nm (assumed, same order as reported for magnetite
  suspensions used in photothermal work, e.g. Espinosa et al., ACS Nano 10 (2016) 2436).

Fluence: diffusion theory for a broad collimated beam on a semi-infinite medium with
the extrapolated boundary condition (Groenhuis et al., Appl. Opt. 22 (1983) 2456;
Haskell et al., JOSA A 11 (1994) 2727; Welch & van Gemert, Optical-Thermal Response of
Laser-Irradiated Tissue, ch. "Diffusion theory")::

    Phi(z) = E0 [(1 + alpha) exp(-mu_t' z) + k_b exp(-mu_eff z)]

with the collimated beam plus its diffuse particular solution, and k_b (the
backscatter build-up factor, ~5-6 for tissue with n = 1.37) from the boundary
condition.  Deep in the tissue Phi(z) = E0 * k_b * exp(-mu_eff z), as in PHYSICS.md.
"""

from __future__ import annotations

import math
from functools import cache
from importlib import resources

import numpy as np

__all__ = [
    "ABSORBER_UNITS",
    "HB_MOLAR_MASS_G_MOL",
    "hemoglobin_table",
    "extinction",
    "mu_a",
    "blood_mu_a",
    "tissue_mu_a",
    "reduced_scattering",
    "mu_eff",
    "effective_reflection",
    "fluence_coefficients",
    "fluence",
    "fluence_layered",
    "absorbed_power",
    "skin_mpe",
]

LN10 = math.log(10.0)
HB_MOLAR_MASS_G_MOL = 64500.0  #: hemoglobin tetramer, as used by Prahl's table

ABSORBER_UNITS = {
    "HbO2": "mol/L",
    "Hb": "mol/L",
    "water": "volume fraction",
    "icg": "mol/L",
    "gold_nanorod": "mg Au/mL",
    "iron_oxide": "mg Fe/mL",
}

# Pure water absorption coefficient mu_a, 1/cm (Hale & Querry 1973; Kou et al. 1993).
_WATER_NM = np.array(
    [
        600,
        650,
        700,
        725,
        750,
        775,
        800,
        825,
        850,
        875,
        900,
        925,
        950,
        975,
        1000,
        1025,
        1050,
        1075,
        1100,
        1125,
        1150,
        1175,
        1200,
        1250,
        1300,
    ],
    dtype=float,
)
_WATER_MU_A = np.array(
    [
        0.0022,
        0.0034,
        0.0060,
        0.016,
        0.026,
        0.024,
        0.020,
        0.029,
        0.043,
        0.056,
        0.068,
        0.14,
        0.39,
        0.45,
        0.36,
        0.25,
        0.16,
        0.13,
        0.17,
        0.45,
        1.0,
        1.1,
        1.04,
        0.95,
        1.2,
    ]
)


@cache
def hemoglobin_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(wavelength nm, eps HbO2, eps Hb) in 1/(cm M) from the packaged Prahl table."""
    table = resources.files("labctl.simulators.physics").joinpath("data/hemoglobin_prahl.tsv")
    text = table.read_text()
    rows = [
        line.split("\t")
        for line in text.splitlines()
        if line and not line.startswith("#") and not line.startswith("lambda")
    ]
    arr = np.array(rows, dtype=float)
    return arr[:, 0], arr[:, 1], arr[:, 2]


def _lorentz(lam: np.ndarray, center: float, fwhm: float) -> np.ndarray:
    return 1.0 / (1.0 + ((lam - center) / (fwhm / 2.0)) ** 2)


def _gauss(lam: np.ndarray, center: float, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * ((lam - center) / sigma) ** 2)


def extinction(absorber: str, wavelength_nm: float | np.ndarray) -> float | np.ndarray:
    """Decadic extinction of ``absorber`` in 1/cm per unit of :data:`ABSORBER_UNITS`."""
    lam = np.asarray(wavelength_nm, dtype=float)
    if absorber in ("HbO2", "Hb"):
        nm, hbo2, hb = hemoglobin_table()
        eps = np.interp(lam, nm, hbo2 if absorber == "HbO2" else hb)
    elif absorber == "water":
        eps = np.interp(lam, _WATER_NM, _WATER_MU_A) / LN10
    elif absorber == "icg":
        eps = 1.9e5 * (_gauss(lam, 800.0, 30.0) + 0.3 * _gauss(lam, 720.0, 30.0))
    elif absorber == "gold_nanorod":
        eps = 30.0 * (_lorentz(lam, 800.0, 120.0) + 0.25 * _lorentz(lam, 520.0, 60.0))
    elif absorber == "iron_oxide":
        eps = 0.3 * np.exp(-(lam - 808.0) / 400.0)
    else:
        raise KeyError(f"unknown absorber {absorber!r}; known: {sorted(ABSORBER_UNITS)}")
    return float(eps) if eps.ndim == 0 else eps


def mu_a(wavelength_nm: float, concentrations: dict[str, float | np.ndarray]) -> float | np.ndarray:
    """Absorption coefficient sum_i ln(10) eps_i c_i, 1/cm (concentrations may be maps)."""
    total: float | np.ndarray = 0.0
    for name, c in concentrations.items():
        total = total + LN10 * extinction(name, wavelength_nm) * np.asarray(c, dtype=float)
    return total


def blood_mu_a(wavelength_nm: float, sO2: float, hemoglobin_g_L: float = 150.0) -> float:
    """Absorption of whole blood (150 g/L hemoglobin) at oxygen saturation ``sO2``, 1/cm."""
    c = hemoglobin_g_L / HB_MOLAR_MASS_G_MOL
    return float(mu_a(wavelength_nm, {"HbO2": sO2 * c, "Hb": (1.0 - sO2) * c}))


def tissue_mu_a(
    wavelength_nm: float,
    blood_fraction: float = 0.04,
    sO2: float = 0.8,
    water_fraction: float = 0.7,
    background_per_cm: float = 0.05,
) -> float:
    """Soft-tissue absorption: blood + water + a flat background (Jacques 2013 model), 1/cm.

    Defaults give ~0.25 /cm at 808 nm (PHYSICS.md: 0.2-0.5 /cm).
    """
    return (
        blood_fraction * blood_mu_a(wavelength_nm, sO2)
        + float(mu_a(wavelength_nm, {"water": water_fraction}))
        + background_per_cm
    )


def reduced_scattering(wavelength_nm: float, a_per_cm: float = 18.6, b: float = 1.3) -> float:
    """mu_s' = a (lambda / 500 nm)^-b, 1/cm (power law of S. L. Jacques, Phys. Med. Biol. 58
    (2013) R37; defaults within his soft-tissue range, 10 /cm at 808 nm)."""
    return a_per_cm * (wavelength_nm / 500.0) ** (-b)


def mu_eff(mu_a_per_cm: float | np.ndarray, mu_s_prime_per_cm: float | np.ndarray):
    """Effective attenuation sqrt(3 mu_a (mu_a + mu_s')), 1/cm."""
    return np.sqrt(3.0 * mu_a_per_cm * (mu_a_per_cm + mu_s_prime_per_cm))


def effective_reflection(n: float) -> float:
    """Internal diffuse reflection R_eff at a tissue/air boundary, index ratio n (Groenhuis)."""
    return -1.440 / n**2 + 0.710 / n + 0.668 + 0.0636 * n


def fluence_coefficients(
    mu_a_per_cm: float, mu_s_prime_per_cm: float, n: float = 1.37
) -> tuple[float, float]:
    """(c_coll, k_b): Phi/E0 = c_coll exp(-mu_t' z) + k_b exp(-mu_eff z) (see module doc)."""
    ma, ms = float(mu_a_per_cm), float(mu_s_prime_per_cm)
    mt = ma + ms
    if ms <= 0.0:
        return 1.0, 0.0  # pure absorber: Beer-Lambert
    denom = ma - mt / 3.0
    if abs(denom) < 1e-9 * mt:  # mu_eff == mu_t': nudge off the removable singularity
        ma *= 1.0 + 1e-6
        mt = ma + ms
        denom = ma - mt / 3.0
    alpha = ms / denom
    D = 1.0 / (3.0 * mt)
    A = (1.0 + effective_reflection(n)) / (1.0 - effective_reflection(n))
    me = float(mu_eff(ma, ms))
    k_b = -alpha * (1.0 + 2.0 * A * D * mt) / (1.0 + 2.0 * A * D * me)
    return 1.0 + alpha, k_b


def fluence(
    z_cm: float | np.ndarray,
    irradiance_W_cm2: float,
    mu_a_per_cm: float,
    mu_s_prime_per_cm: float,
    n: float = 1.37,
) -> float | np.ndarray:
    """Fluence rate Phi(z) in a homogeneous semi-infinite medium, W/cm^2."""
    c, k_b = fluence_coefficients(mu_a_per_cm, mu_s_prime_per_cm, n)
    z = np.asarray(z_cm, dtype=float)
    me = mu_eff(mu_a_per_cm, mu_s_prime_per_cm)
    mt = mu_a_per_cm + mu_s_prime_per_cm
    return irradiance_W_cm2 * (c * np.exp(-mt * z) + k_b * np.exp(-me * z))


def fluence_layered(
    z_faces_cm: np.ndarray,
    mu_a_per_cm: np.ndarray,
    mu_s_prime_per_cm: np.ndarray,
    irradiance_W_cm2: float | np.ndarray = 1.0,
    n: float = 1.37,
) -> np.ndarray:
    """Fluence rate at the centres of depth cells with their own optical properties, W/cm^2.

    ``z_faces_cm`` (nz+1,) are cell faces from the surface; ``mu_*`` have shape (nz, ...)
    (extra axes, e.g. radius, broadcast).  Attenuation uses the local coefficients
    integrated along depth (exp(-int mu dz)); the surface coefficients (c_coll, k_b) come
    from the first cell's properties.  Exact for a homogeneous column; an approximation
    (local mu_eff) across layers.
    """
    z_faces = np.asarray(z_faces_cm, dtype=float)
    ma = np.asarray(mu_a_per_cm, dtype=float)
    ms = np.asarray(mu_s_prime_per_cm, dtype=float)
    dz = np.diff(z_faces).reshape((-1,) + (1,) * (ma.ndim - 1))
    me = mu_eff(ma, ms)
    mt = ma + ms

    def optical_depth(mu: np.ndarray) -> np.ndarray:
        above = np.cumsum(mu * dz, axis=0) - mu * dz
        return above + mu * dz / 2.0

    surf_a = ma[0] if ma.ndim else ma
    surf_s = ms[0] if ms.ndim else ms
    coeffs = np.vectorize(lambda a, s: fluence_coefficients(a, s, n), otypes=[float, float])
    c, k_b = coeffs(surf_a, surf_s)
    return np.asarray(irradiance_W_cm2) * (
        c * np.exp(-optical_depth(mt)) + k_b * np.exp(-optical_depth(me))
    )


def absorbed_power(power_W: float, absorbance: float) -> float:
    """Power absorbed by a cuvette sample of decadic absorbance A: I (1 - 10^-A), W."""
    return power_W * (1.0 - 10.0 ** (-absorbance))


def skin_mpe(wavelength_nm: float) -> float:
    """ANSI Z136.1 skin MPE for exposures > 10 s, 400-1400 nm: 0.2 C_A W/cm^2.

    C_A = 1 (400-700 nm), 10^(0.002 (lambda - 700)) (700-1050 nm), 5 (1050-1400 nm).
    """
    lam = float(wavelength_nm)
    if not 400.0 <= lam <= 1400.0:
        raise ValueError(f"skin MPE implemented for 400-1400 nm, not {lam} nm")
    if lam < 700.0:
        c_a = 1.0
    elif lam < 1050.0:
        c_a = 10.0 ** (0.002 * (lam - 700.0))
    else:
        c_a = 5.0
    return 0.2 * c_a
