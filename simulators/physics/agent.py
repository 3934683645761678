"""An intravenously injected imaging agent: plasma clearance, tumor uptake, fluorescence.

Kinetics (per injection of ``dose`` at model time ``t_inj``; injections superpose)::

    C_p(t) = C_p0 exp(-k_el t)                                   plasma
    dC_t/dt = K_trans C_p - k_ep C_t                             tumor interstitium
    C_t(t) = K_trans C_p0 (exp(-k_el t) - exp(-k_ep t)) / (k_ep - k_el)

with ``t = time since injection`` and ``C_p0 = dose * body mass / plasma volume``: a
mono-exponential plasma clearance feeding the two-compartment exchange model of
P. S. Tofts et al., J. Magn. Reson. Imaging 10 (1999) 223 (a Bateman function, peak at
``t_max = ln(k_ep / k_el) / (k_ep - k_el)``).  Defaults describe long-circulating
nanoparticles: plasma half-life 6 h (PEGylated particles: hours to a day), interstitial
washout half-life 77 h and ``K_trans`` giving a peak of ~3 %ID/g at ~24 h post injection,
the accumulation time reported by the seed literature (EPR delivery; S. Wilhelm et al.,
Nat. Rev. Mater. 1 (2016) 16014 report a median of 0.7 % of the injected dose reaching
the tumor, i.e. a few %ID/g for a 0.1 g tumor).

Distribution: the plasma fraction of the blood in every tissue carries ``C_p`` (blood
volume fraction x (1 - hematocrit)); the tumor interstitium carries ``C_t`` weighted by a
rim-enhanced profile ``w(rho) ~ core + (1 - core) rho^2`` (rho = distance from the tumor
centre / radius, normalised so the volume mean of ``w`` is 1): delivery is poorer in the
hypo-perfused core (R. K. Jain, T. Stylianopoulos, Nat. Rev. Clin. Oncol. 7 (2010) 653).

Units: concentrations in the absorber's unit of :data:`~.optics.ABSORBER_UNITS`
(``icg``: mol/L, dose in umol/kg; ``iron_oxide``/``gold_nanorod``: mg/mL, dose in mg/kg);
times in seconds of model time.

Fluorescence: quantum yield ``QY(T) = QY_37 (1 + alpha (T - 37))`` (alpha ~ -0.01 to
-0.02 /K for NIR dyes, PHYSICS.md section 4); emission spectrum = main band (Gaussian,
peak 820 nm, ICG bound to protein) + vibronic shoulder + an exponential red tail that
carries a few % of the photons beyond 1000 nm (ICG's NIR-II tail: J. A. Carr et al.,
PNAS 115 (2018) 4465); photobleaching first order in the delivered excitation dose,
``c_active = c exp(-sigma_b H)``, H in J/cm^2 (sigma_b of the order of reported ICG
photodegradation under NIR light: V. Saxena et al., J. Photochem. Photobiol. B 74 (2004)
29).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from labctl.simulators.physics import optics

__all__ = ["AgentParams", "AgentKinetics", "Injection", "dose_unit", "uptake_weight"]

_HOUR = 3600.0


def dose_unit(absorber: str) -> str:
    """Unit of an injected dose of ``absorber`` per kg body mass."""
    unit = optics.ABSORBER_UNITS.get(absorber)
    if absorber in ("Hb", "HbO2", "water"):
        raise ValueError(f"{absorber} is an endogenous absorber, not an injectable agent")
    if unit is None:
        raise ValueError(
            f"unknown agent absorber {absorber!r}; known: {sorted(optics.ABSORBER_UNITS)}"
        )
    if unit == "mol/L":
        return "umol/kg"
    if unit.endswith("/mL"):
        return "mg/kg"
    raise ValueError(f"absorber {absorber!r} ({unit}) cannot be injected as an agent")


@dataclass(frozen=True)
class AgentParams:
    """Agent kinetics and photophysics (module doc for the model and sources).

    Units in the names: h, 1/h, mL/kg, nm, /K, cm^2/J; ``absorber`` names the optical
    absorber (:data:`~.optics.ABSORBER_UNITS`) the agent carries.
    """

    absorber: str = "icg"
    plasma_half_life_h: float = 6.0
    washout_half_life_h: float = 77.0
    k_trans_per_h: float = 0.0045  #: plasma -> tumor transfer, mL plasma / mL tumor / h
    plasma_mL_per_kg: float = 40.0  #: mouse plasma volume (blood ~72 mL/kg x (1 - Hct))
    hematocrit: float = 0.45
    core_uptake: float = 0.3  #: interstitial uptake at the tumor centre relative to the rim
    quantum_yield: float = 0.05  #: at 37 C (ICG bound to protein / encapsulated)
    qy_temperature_coeff_per_K: float = -0.015
    emission_peak_nm: float = 820.0
    emission_width_nm: float = 25.0  #: sigma of the main band
    emission_tail_nm: float = 150.0  #: decay length of the red tail
    emission_tail_weight: float = 0.08  #: tail amplitude relative to the peak
    bleaching_cm2_per_J: float = 2e-3

    def __post_init__(self) -> None:
        dose_unit(self.absorber)  # raises for an unknown or non-injectable absorber
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in ("absorber", "qy_temperature_coeff_per_K"):
                continue
            positive = f.name in (
                "plasma_half_life_h",
                "washout_half_life_h",
                "plasma_mL_per_kg",
                "emission_peak_nm",
                "emission_width_nm",
                "emission_tail_nm",
            )
            if not math.isfinite(v) or v < 0 or (positive and v == 0):
                bound = "> 0" if positive else ">= 0"
                raise ValueError(f"agent parameter {f.name} must be {bound}, not {v!r}")
        if self.hematocrit >= 1 or self.core_uptake > 1 or self.quantum_yield > 1:
            raise ValueError("agent hematocrit must be < 1, core_uptake and quantum_yield <= 1")
        if self.plasma_half_life_h == self.washout_half_life_h:
            raise ValueError("agent plasma and washout half-lives must differ (Bateman function)")

    @property
    def k_el_per_s(self) -> float:
        return math.log(2.0) / (self.plasma_half_life_h * _HOUR)

    @property
    def k_ep_per_s(self) -> float:
        return math.log(2.0) / (self.washout_half_life_h * _HOUR)

    @property
    def k_trans_per_s(self) -> float:
        return self.k_trans_per_h / _HOUR


@dataclass(frozen=True)
class Injection:
    """One bolus: model time (s), dose (:func:`dose_unit`) and initial plasma level."""

    t_s: float
    dose: float
    plasma0: float  #: initial plasma concentration, absorber unit


def uptake_weight(rho: np.ndarray | float, core: float) -> np.ndarray:
    """Rim-enhanced interstitial uptake profile, volume mean 1 over the tumor sphere.

    ``rho``: distance from the tumor centre / tumor radius (clipped to [0, 1]).
    """
    rho = np.clip(np.asarray(rho, dtype=float), 0.0, 1.0)
    return (core + (1.0 - core) * rho**2) / (core + 0.6 * (1.0 - core))


class AgentKinetics:
    """Injections and the resulting plasma and tumor concentrations over model time."""

    def __init__(self, params: AgentParams | None = None, body_mass_g: float = 25.0) -> None:
        self.params = params or AgentParams()
        if not body_mass_g > 0:
            raise ValueError(f"body mass must be > 0 g, not {body_mass_g!r}")
        self.body_mass_g = float(body_mass_g)
        self.injections: list[Injection] = []

    @property
    def dose_unit(self) -> str:
        return dose_unit(self.params.absorber)

    def plasma_volume_mL(self) -> float:
        return self.params.plasma_mL_per_kg * self.body_mass_g / 1e3

    def inject(self, t_s: float, dose: float) -> Injection:
        """Record a bolus of ``dose`` (:attr:`dose_unit`) at model time ``t_s``."""
        if not (math.isfinite(dose) and dose > 0):
            raise ValueError(f"agent dose must be > 0 {self.dose_unit}, not {dose!r}")
        amount = dose * self.body_mass_g / 1e3  # umol or mg
        vp = self.plasma_volume_mL()
        if optics.ABSORBER_UNITS[self.params.absorber] == "mol/L":
            c0 = amount * 1e-6 / (vp * 1e-3)  # mol/L
        else:
            c0 = amount / vp  # mg/mL
        inj = Injection(float(t_s), float(dose), c0)
        self.injections.append(inj)
        return inj

    @property
    def injected(self) -> bool:
        return bool(self.injections)

    def plasma(self, t_s: float) -> float:
        """Plasma concentration at model time ``t_s``, absorber unit."""
        k = self.params.k_el_per_s
        return float(
            sum(i.plasma0 * math.exp(-k * (t_s - i.t_s)) for i in self.injections if t_s >= i.t_s)
        )

    def tumor(self, t_s: float) -> float:
        """Volume-mean interstitial tumor concentration at ``t_s``, absorber unit."""
        p = self.params
        k_el, k_ep, kt = p.k_el_per_s, p.k_ep_per_s, p.k_trans_per_s
        total = 0.0
        for i in self.injections:
            dt = t_s - i.t_s
            if dt > 0:
                total += (
                    kt * i.plasma0 * (math.exp(-k_el * dt) - math.exp(-k_ep * dt)) / (k_ep - k_el)
                )
        return total

    def peak_time_s(self) -> float:
        """Time after a single injection at which the tumor concentration peaks, s."""
        k_el, k_ep = self.params.k_el_per_s, self.params.k_ep_per_s
        return math.log(k_ep / k_el) / (k_ep - k_el)

    def percent_injected_dose_per_g(self, t_s: float, tissue_density_g_mL: float = 1.0) -> float:
        """Mean tumor interstitial concentration as %ID/g (all injections pooled)."""
        if not self.injections:
            return 0.0
        c0 = sum(i.plasma0 for i in self.injections)  # per plasma volume
        amount_per_mL = c0 * self.plasma_volume_mL()  # same unit x mL
        return 100.0 * self.tumor(t_s) / tissue_density_g_mL / amount_per_mL

    def concentration_map(
        self,
        t_s: float,
        tumor_fraction: np.ndarray,
        rho: np.ndarray,
        blood_fraction: np.ndarray,
    ) -> np.ndarray:
        """Agent concentration on a map (absorber unit): plasma in the blood everywhere plus
        the weighted interstitial tumor concentration (``rho``: distance / tumor radius)."""
        p = self.params
        vascular = blood_fraction * (1.0 - p.hematocrit) * self.plasma(t_s)
        interstitial = tumor_fraction * uptake_weight(rho, p.core_uptake) * self.tumor(t_s)
        return vascular + interstitial

    # -- photophysics ---------------------------------------------------------------------
    def quantum_yield(self, T_C: np.ndarray | float) -> np.ndarray:
        """QY(T) = QY_37 (1 + alpha (T - 37)), clipped at 0."""
        p = self.params
        T = np.asarray(T_C, dtype=float)
        return np.clip(p.quantum_yield * (1.0 + p.qy_temperature_coeff_per_K * (T - 37.0)), 0, 1)

    def emission_spectrum(self, wavelength_nm: np.ndarray | float) -> np.ndarray:
        """Photon emission spectrum, normalised to unit integral over 600-1700 nm (1/nm)."""
        return _emission(self.params, np.asarray(wavelength_nm, dtype=float)) / _emission_norm(
            self.params
        )

    def band_fraction(self, lo_nm: float, hi_nm: float) -> float:
        """Fraction of the emitted photons between ``lo_nm`` and ``hi_nm``."""
        lam = np.linspace(max(lo_nm, 600.0), min(hi_nm, 1700.0), 2001)
        if lam[-1] <= lam[0]:
            return 0.0
        return float(np.trapezoid(self.emission_spectrum(lam), lam))


def _emission(p: AgentParams, lam: np.ndarray) -> np.ndarray:
    main = np.exp(-0.5 * ((lam - p.emission_peak_nm) / p.emission_width_nm) ** 2)
    shoulder = 0.25 * np.exp(-0.5 * ((lam - p.emission_peak_nm - 60.0) / 40.0) ** 2)
    red = lam > p.emission_peak_nm
    tail = np.where(
        red,
        p.emission_tail_weight * np.exp(-(lam - p.emission_peak_nm) / p.emission_tail_nm),
        0.0,
    )
    # the tail rises smoothly from the peak instead of starting as a step
    tail *= 1.0 - np.exp(-np.clip(lam - p.emission_peak_nm, 0.0, None) / 30.0)
    blue = lam < 600.0
    return np.where(blue, 0.0, main + shoulder + tail)


@cache
def _emission_norm(p: AgentParams) -> float:
    lam = np.linspace(600.0, 1700.0, 4401)
    return float(np.trapezoid(_emission(p, lam), lam))
