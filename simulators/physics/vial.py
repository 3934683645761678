"""In-vitro sample: a vial of nanoparticle suspension in a calorimetry setup.

Lumped heat balance (the model behind SAR and PCE calorimetry)::

    C dT/dt = P - L (T - T_amb),    C = sum_i m_i c_i

solved exactly between input changes, T(t + dt) = T_inf + (T - T_inf) exp(-dt L / C)
with T_inf = T_amb + P / L, so any step size gives the same answer.

Heating power P:

- AMF: SLP (Rosensweig LRT, particles free in the fluid: Brownian + Neel relaxation) x iron
  mass, evaluated at ``slp_temperature_C`` (default the ambient temperature) so that P is
  constant while the field is (the few %/K temperature dependence of SLP is neglected);
- laser: the particles absorb I (1 - 10^-A) (A: decadic absorbance of the particles over
  the optical path at the laser wavelength) and turn the fraction ``pce`` into heat; the
  solvent and vessel add Q_dis = I (1 - 10^-A_water) + ``vessel_absorption`` x I (what the
  Roper method measures with solvent alone; D. K. Roper, W. Ahn, M. Hoepfner, J. Phys.
  Chem. C 111 (2007) 3636).

Defaults: 1 mL water (c 4186 J/kg/K) in a 1 g borosilicate vial (c 830 J/kg/K),
C = 5.0 J/K; L = 0.0152 W/K so C/L = 330 s, the order of cooling time constants of
1 mL samples in PCE papers.  This balances the two calorimetric analyses: a linear fit of
the first 30 s underestimates the initial slope by ~t/(2 tau) = 4.5 % (20 s: 3 %), and
after 20 min of irradiation the sample is within 2.6 % of its plateau (a better insulated
AMF calorimeter, smaller L, favours the initial-slope method).  2 mg Fe of the same
particles as the tumor model (SAR ~196 W/g Fe in water at 230 kHz, 8 kA/m); gold
nanorods giving A(808 nm) ~ 0.6, the iron oxide adding ~0.6; true PCE 0.45 (gold
nanorods 20-60 %).  Set ``iron_mg`` or ``gold_nanorod_mg_per_mL`` to 0 for a single agent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from labctl.simulators.physics import magnetics, optics

__all__ = ["Vial", "VialParams"]


@dataclass(frozen=True)
class VialParams:
    """Parameters of :class:`Vial`: mL, g, J/kg/K, mg, W/K, C, cm, mg/mL, uM, fractions."""

    water_mL: float = 1.0
    vessel_g: float = 1.0
    vessel_c: float = 830.0
    water_c: float = 4186.0
    iron_mg: float = 2.0
    particle: magnetics.Nanoparticle = magnetics.Nanoparticle(15e-9, K_J_m3=14e3)
    loss_W_per_K: float = 0.0152
    T_amb_C: float = 23.0
    T_start_C: float | None = None  #: default: T_amb_C
    slp_temperature_C: float | None = None  #: default: T_amb_C
    path_cm: float = 1.0
    gold_nanorod_mg_per_mL: float = 0.02
    icg_uM: float = 0.0
    pce: float = 0.45
    vessel_absorption: float = 0.005


class Vial:
    """The vial sample model (implements ``SampleModel``); positions sample/ambient/reference."""

    def __init__(self, params: VialParams | None = None) -> None:
        p = self.params = params or VialParams()
        for name in ("water_mL", "water_c", "loss_W_per_K", "path_cm"):
            if not getattr(p, name) > 0:
                raise ValueError(f"vial parameter {name} must be > 0, not {getattr(p, name)!r}")
        for name in (
            "vessel_g",
            "vessel_c",
            "iron_mg",
            "gold_nanorod_mg_per_mL",
            "icg_uM",
            "vessel_absorption",
        ):
            if getattr(p, name) < 0:
                raise ValueError(f"vial parameter {name} must be >= 0, not {getattr(p, name)!r}")
        if not 0.0 <= p.pce <= 1.0:
            raise ValueError(f"vial parameter pce must be within 0-1, not {p.pce!r}")
        self.heat_capacity_J_K = p.water_mL * 1e-3 * p.water_c + p.vessel_g * 1e-3 * p.vessel_c
        self.t_s = 0.0
        self.T_C = p.T_amb_C if p.T_start_C is None else float(p.T_start_C)
        self._amf = (0.0, 0.0)
        self._laser = (0.0, 808.0, 1.0)

    # -- SampleModel ---------------------------------------------------------------------
    @property
    def positions(self) -> tuple[str, ...]:
        return ("sample", "ambient", "reference")

    def advance(self, dt_s: float) -> None:
        if dt_s < 0:
            raise ValueError(f"cannot advance the sample by a negative time ({dt_s} s)")
        p = self.params
        T_inf = p.T_amb_C + self.power_W() / p.loss_W_per_K
        self.T_C = T_inf + (self.T_C - T_inf) * math.exp(-dt_s / self.tau_s)
        self.t_s += dt_s

    def set_amf(self, frequency_Hz: float, field_A_m: float) -> None:
        if frequency_Hz < 0 or field_A_m < 0:
            raise ValueError(
                f"AMF frequency and field must be >= 0, got {frequency_Hz}, {field_A_m}"
            )
        self._amf = (float(frequency_Hz), float(field_A_m))

    def set_laser(self, power_W: float, wavelength_nm: float, spot_area_cm2: float) -> None:
        if power_W < 0:
            raise ValueError(f"laser power must be >= 0 W, not {power_W}")
        if power_W > 0 and not (spot_area_cm2 > 0 and 600.0 <= wavelength_nm <= 1300.0):
            raise ValueError(
                f"laser needs a spot area > 0 cm^2 and 600-1300 nm, got "
                f"{spot_area_cm2} cm^2 at {wavelength_nm} nm"
            )
        self._laser = (float(power_W), float(wavelength_nm), float(spot_area_cm2))

    def temperature(self, position: str) -> float:
        if position == "sample":
            return self.T_C
        if position in ("ambient", "reference"):
            return self.params.T_amb_C
        raise KeyError(f"unknown position {position!r}; known: {self.positions}")

    def truth(self) -> dict:
        p = self.params
        f, H = self._amf
        power, wl, _ = self._laser
        slp = self.slp_W_per_kg_Fe()
        absorbed = optics.absorbed_power(power, self.absorbance(wl))
        return {
            "t_s": self.t_s,
            "T_C": self.T_C,
            "T_amb_C": p.T_amb_C,
            "frequency_Hz": f,
            "field_A_m": H,
            "slp_W_per_g_Fe": slp / 1e3,
            "sar_W_per_g_Fe": slp / 1e3,
            "ilp_nH_m2_per_kg": magnetics.ilp(slp * magnetics.FE_MASS_FRACTION_MAGNETITE, f, H),
            "iron_mg": p.iron_mg,
            "power_magnetic_W": self.magnetic_power_W(),
            "laser_W": power,
            "wavelength_nm": wl,
            "absorbance": self.absorbance(wl),
            "laser_absorbed_W": absorbed,
            "power_photothermal_W": p.pce * absorbed,
            "q_dis_W": self.q_dis_W(),
            "pce": p.pce,
            "power_W": self.power_W(),
            "heat_capacity_J_per_K": self.heat_capacity_J_K,
            "loss_W_per_K": p.loss_W_per_K,
            "tau_s": self.tau_s,
            "T_plateau_C": p.T_amb_C + self.power_W() / p.loss_W_per_K,
        }

    # -- physics -------------------------------------------------------------------------
    @property
    def tau_s(self) -> float:
        """Thermal time constant C / L, s."""
        return self.heat_capacity_J_K / self.params.loss_W_per_K

    def slp_W_per_kg_Fe(self) -> float:
        """True SLP (= SAR) of the suspension at the current field, W/kg Fe."""
        p = self.params
        f, H = self._amf
        T = p.T_amb_C if p.slp_temperature_C is None else p.slp_temperature_C
        return magnetics.slp_per_fe(p.particle, f, H, T + 273.15, immobilized=False)

    def amf_power_W(self) -> float:
        """Power the alternating field deposits in the sample, W."""
        return self.magnetic_power_W()

    def magnetic_power_W(self) -> float:
        return self.slp_W_per_kg_Fe() * self.params.iron_mg * 1e-6

    def absorbance(self, wavelength_nm: float) -> float:
        """Decadic absorbance of the particles (not the solvent) over the optical path."""
        p = self.params
        conc = {
            "iron_oxide": p.iron_mg / p.water_mL,
            "gold_nanorod": p.gold_nanorod_mg_per_mL,
            "icg": p.icg_uM * 1e-6,
        }
        return sum(optics.extinction(k, wavelength_nm) * c for k, c in conc.items()) * p.path_cm

    def q_dis_W(self) -> float:
        """Heat from light absorbed by the solvent and the vessel (Roper's Q_dis), W."""
        p = self.params
        power, wl, _ = self._laser
        a_water = float(optics.extinction("water", wl)) * p.path_cm
        return optics.absorbed_power(power, a_water) + p.vessel_absorption * power

    def power_W(self) -> float:
        """Total heating power at the current inputs, W."""
        p = self.params
        power, wl, _ = self._laser
        photo = p.pce * optics.absorbed_power(power, self.absorbance(wl))
        return self.magnetic_power_W() + photo + self.q_dis_W()
