"""Parameters of the mouse-flank tumor model (:mod:`labctl.simulators.physics.tumor`).

Defaults and their sources (PHYSICS.md section 2 gives the ranges):

- thermal properties: IT'IS tissue database (P. A. Hasgall et al., IT'IS Foundation,
  v4.1, 2022): muscle k 0.49 W/m/K, rho 1090 kg/m^3, c 3421 J/kg/K; skin k 0.37, rho 1109,
  c 3391; tumor taken as soft tissue with more water (k 0.55, rho 1050, c 3600); blood
  rho 1060, c 3800;
- perfusion: soft tissue and skin 5e-3 /s (~30 mL/100 g/min), tumor 1.5e-3 /s; tumors
  are less perfused than their host tissue (P. Vaupel, F. Kallinowski, P. Okunieff,
  Cancer Res. 49 (1989) 6449);
- metabolic heat: host tissue 1e4 W/m^3 (Kleiber basal rate of a 25 g mouse, ~0.21 W,
  per volume); tumor 2.9e4 W/m^3 (M. Gautherie, Ann. N. Y. Acad. Sci. 335 (1980) 383, the
  value used in most tumor bioheat models);
- skin convection h = 10 W/m^2/K (natural convection plus linearised radiation) to room
  air at 24 C; anesthetized mouse core (rectal) 37 C;
- core node: 25 g mouse at 3500 J/kg/K minus the grid's heat capacity; whole-body
  conductance 0.05 W/K (passive conductance of a 25 g mouse ~0.035 W/K, C. J. Gordon,
  Temperature Regulation in Laboratory Rodents, Cambridge University Press, 1993, plus
  contact with the bed); its basal heat (metabolism plus warming pad) is calibrated at
  construction;
- tissue electrical conductivity 0.4 S/m (0.2-0.6 S/m at ~100 kHz);
- particle: magnetite core 15 nm, shell 5 nm, K = 14 kJ/m^3 (hyperthermia particles
  have d 12-20 nm and K 1e4-3e4 J/m^3: R. E. Rosensweig, J. Magn. Magn. Mater. 252 (2002)
  370; R. Hergt et al., J. Phys.: Condens. Matter 18 (2006) S2919).  In tissue (Neel only)
  at 230 kHz, 8 kA/m: SLP ~169 W/g Fe, ILP ~8 nH m^2/kg (a good but reported level; the
  Langevin parameter is 1.85, at the edge of LRT validity);
- 5 mg Fe/mL uniform in the tumor (intratumoral doses of several mg Fe/mL are usual);
- no intravenous imaging agent unless ``agent_dose`` > 0 (given ``agent_injected_h_before``
  hours before the model starts; kinetics and sources: :mod:`.agent`).

With these defaults the unheated tumor centre is at 36.96 C and 7.0 kA/m at 230 kHz
holds it at 43 C at steady state (tests check both).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from labctl.simulators.physics import magnetics
from labctl.simulators.physics.agent import AgentParams

__all__ = ["TumorParams"]


@dataclass(frozen=True)
class TumorParams:
    """Parameters of :class:`MouseTumor` (see the module doc for sources).

    Units in the names: mm, W/m/K (k), kg/m^3 (rho), J/kg/K (c), 1/s (perfusion), W/m^3
    (metabolic), C, W/m^2/K (h), S/m (sigma), mg Fe/mL, mg Au/mL, umol/L.
    """

    tumor_diameter_mm: float = 6.0
    tumor_depth_mm: float = 0.5  #: subcutaneous gap between skin layer and tumor
    skin_thickness_mm: float = 0.5
    domain_radius_mm: float = 12.0
    domain_depth_mm: float = 12.0
    grid_step_mm: float = 0.5
    max_step_s: float = 2.0
    iron_mg_per_mL: float = 5.0
    particle: magnetics.Nanoparticle = magnetics.Nanoparticle(15e-9, K_J_m3=14e3)
    slp_temperature_C: float = 37.0
    k_tumor: float = 0.55
    k_tissue: float = 0.49
    k_skin: float = 0.37
    rho_tumor: float = 1050.0
    rho_tissue: float = 1090.0
    rho_skin: float = 1109.0
    c_tumor: float = 3600.0
    c_tissue: float = 3421.0
    c_skin: float = 3391.0
    rho_blood: float = 1060.0
    c_blood: float = 3800.0
    perfusion_tumor: float = 1.5e-3
    perfusion_tissue: float = 5e-3
    perfusion_skin: float = 5e-3
    metabolic_tumor: float = 2.9e4
    metabolic_tissue: float = 1e4
    metabolic_skin: float = 2e3
    h_W_m2K: float = 10.0
    T_air_C: float = 24.0
    core_C: float = 37.0
    body_mass_g: float = 25.0
    c_body: float = 3500.0
    core_conductance_W_K: float = 0.05
    sigma_S_m: float = 0.4
    body_in_field_mm: float = 20.0
    blood_fraction_tumor: float = 0.05
    blood_fraction_tissue: float = 0.04
    so2_tumor: float = 0.6
    so2_tissue: float = 0.8
    water_fraction: float = 0.7
    #: lipid volume fraction for the Grueneisen parameter (0: water-like tissue; a fatty
    #: subcutis might be 0.05-0.2, a model value); see :func:`.imaging.grueneisen`
    lipid_fraction_tumor: float = 0.0
    lipid_fraction_tissue: float = 0.0
    background_mu_a: float = 0.05  #: 1/cm, non-blood absorption
    gold_nanorod_mg_per_mL: float = 0.0
    icg_uM: float = 0.0
    refractive_index: float = 1.37
    positions: dict = field(default_factory=dict)  #: extra name -> (r_m, z_m)
    agent: AgentParams = AgentParams()  #: the intravenous imaging agent (:mod:`.agent`)
    agent_dose: float = 0.0  #: dose injected before the model starts (umol/kg or mg/kg)
    agent_injected_h_before: float = 24.0  #: hours before model time 0 of that injection

    def __post_init__(self) -> None:
        temperatures = ("slp_temperature_C", "T_air_C", "core_C")
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in temperatures or not isinstance(v, (int, float)):
                continue
            must_be_positive = not f.name.startswith(
                (
                    "perfusion",
                    "metabolic",
                    "blood",
                    "so2",
                    "water",
                    "lipid",
                    "background",
                    "gold",
                    "icg",
                    "iron",
                    "sigma",
                    "body_in",
                    "tumor_depth",
                    "h_W",
                    "agent",
                )
            )
            if v < 0 or (must_be_positive and v == 0) or not math.isfinite(v):
                raise ValueError(
                    f"tumor parameter {f.name} must be "
                    f"{'> 0' if must_be_positive else '>= 0'}, not {v!r}"
                )
        for name in self.positions:
            if name in ("tumor", "tumor_edge", "skin", "rectal", "reference"):
                raise ValueError(f"extra position {name!r} shadows a built-in position")
