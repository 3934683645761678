"""In-vitro sample: a vial of nanoparticle suspension in a calorimetry setup.

Lumped heat balance (the model behind SAR and PCE calorimetry)::

    C dT/dt = P - L (T - T_amb),    C = sum_i m_i c_i

solved exactly between input changes, T(t + dt) = T_inf + (T - T_inf) exp(-dt L / C)
with T_inf = T_amb + P / L, so any step size gives the same answer.

With ``wall_conductance_W_per_K`` set, the vial is two compartments (a model, the
simplest one with the wall lag that Wildeboer et al., J. Phys. D 47, 495003, 2014
describe): the suspension (C_s = water) and the vessel wall (C_w), coupled by the
conductance G, the wall losing heat to the surroundings through L::

    C_s dT_s/dt = P_s - G (T_s - T_w)
    C_w dT_w/dt = P_w + G (T_s - T_w) - L (T_w - T_amb)

P_s is the particles' and the solvent's heat, P_w the light the vessel absorbs.  The
probe reads T_s; solved exactly (2x2 matrix exponential) between input changes.  The
lumped analyses, which take C = C_s + C_w, then read high at field-on, when the wall has
not yet warmed (the initial heating rate is P / C_s).

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

import numpy as np

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
    #: suspension-wall conductance G, W/K; None: lumped vial (wall at the sample's T)
    wall_conductance_W_per_K: float | None = None


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
        G = p.wall_conductance_W_per_K
        if G is not None and not (math.isfinite(G) and G > 0 and p.vessel_g * p.vessel_c > 0):
            raise ValueError(
                f"vial parameter wall_conductance_W_per_K must be > 0 with a vessel of "
                f"nonzero heat capacity, not {G!r}"
            )
        self.suspension_heat_capacity_J_K = p.water_mL * 1e-3 * p.water_c
        self.wall_heat_capacity_J_K = p.vessel_g * 1e-3 * p.vessel_c
        self.heat_capacity_J_K = self.suspension_heat_capacity_J_K + self.wall_heat_capacity_J_K
        self.t_s = 0.0
        self.T_C = p.T_amb_C if p.T_start_C is None else float(p.T_start_C)
        self.T_wall_C = self.T_C
        self._amf = (0.0, 0.0)
        self._laser = (0.0, 808.0, 1.0)

    # -- SampleModel ---------------------------------------------------------------------
    @property
    def positions(self) -> tuple[str, ...]:
        return ("sample", "ambient", "reference", "wall")

    def advance(self, dt_s: float) -> None:
        if dt_s < 0:
            raise ValueError(f"cannot advance the sample by a negative time ({dt_s} s)")
        p = self.params
        if p.wall_conductance_W_per_K is None:
            T_inf = p.T_amb_C + self.power_W() / p.loss_W_per_K
            self.T_C = T_inf + (self.T_C - T_inf) * math.exp(-dt_s / self.tau_s)
            self.T_wall_C = self.T_C
        else:
            self._advance_two_compartments(dt_s)
        self.t_s += dt_s

    def _system(self) -> tuple[np.ndarray, np.ndarray]:
        """Rate matrix (1/s) and the steady excess temperatures (K) of sample and wall."""
        p = self.params
        G, L = p.wall_conductance_W_per_K, p.loss_W_per_K
        Cs, Cw = self.suspension_heat_capacity_J_K, self.wall_heat_capacity_J_K
        A = np.array([[-G / Cs, G / Cs], [G / Cw, -(G + L) / Cw]])
        P_w = self._vessel_power_W()
        P_s = self.power_W() - P_w
        steady = np.array([(P_s + P_w) / L + P_s / G, (P_s + P_w) / L])
        return A, steady

    def _advance_two_compartments(self, dt_s: float) -> None:
        A, steady = self._system()
        lam, vec = np.linalg.eig(A)
        x = np.array([self.T_C, self.T_wall_C]) - self.params.T_amb_C - steady
        prop = (vec * np.exp(lam.real * dt_s)) @ np.linalg.inv(vec)
        self.T_C, self.T_wall_C = (float(v) for v in self.params.T_amb_C + steady + prop.real @ x)

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
        if position == "wall":
            return self.T_wall_C
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
            "ilp_nH_m2_per_kg_Fe": magnetics.ilp(slp, f, H),
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
            "T_plateau_C": self.plateau_C(),
            "T_wall_C": self.T_wall_C,
        }

    # -- physics -------------------------------------------------------------------------
    @property
    def tau_s(self) -> float:
        """Thermal time constant, s: C / L (lumped), the slow mode's (two compartments)."""
        if self.params.wall_conductance_W_per_K is None:
            return self.heat_capacity_J_K / self.params.loss_W_per_K
        A, _ = self._system()
        return float(1.0 / np.min(np.abs(np.linalg.eigvals(A).real)))

    def plateau_C(self) -> float:
        """Steady sample temperature at the current inputs, C."""
        p = self.params
        if p.wall_conductance_W_per_K is None:
            return p.T_amb_C + self.power_W() / p.loss_W_per_K
        return p.T_amb_C + float(self._system()[1][0])

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
        return optics.absorbed_power(power, a_water) + self._vessel_power_W()

    def _vessel_power_W(self) -> float:
        """Light absorbed by the vessel wall, W."""
        return self.params.vessel_absorption * self._laser[0]

    def power_W(self) -> float:
        """Total heating power at the current inputs, W."""
        p = self.params
        power, wl, _ = self._laser
        photo = p.pce * optics.absorbed_power(power, self.absorbance(wl))
        return self.magnetic_power_W() + photo + self.q_dis_W()
