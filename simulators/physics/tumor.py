"""In-vivo sample: a subcutaneous mouse-flank tumor on a Pennes bioheat grid.

Geometry (axisymmetric, z down from the skin surface, r from the axis through the tumor
centre, which is also the AMF coil axis): a spherical tumor just under a skin layer,
surrounded by soft tissue; the bottom of the domain touches the body core.  Boundaries:
skin convection to room air (h ~ 10 W/m^2/K), adiabatic outer radius, bottom at the core
temperature.  The body core (the rectal probe) is a lumped node: heat capacity of the rest
of the ~25 g mouse, arterial temperature for the perfusion of the grid (which returns the
heat it picks up), a whole-body conductance to room air, and a basal heat production set
so that the unheated steady state has the core at ``core_C``.

Heat sources (see :mod:`.magnetics`, :mod:`.optics`):

- nanoparticles: SLP(f, H; immobilized, Neel only, at ``slp_temperature_C``) x local iron
  concentration (mg Fe/mL = kg/m^3), a per-cell map (uniform in the tumor by default);
- eddy currents 0.5 sigma (pi mu_0 f H r)^2 in all grid tissue, plus those of the body
  beyond the grid, modelled as a cylinder of the grid's radius and ``body_in_field_mm``
  long on the coil axis (power sigma pi L (pi mu_0 f H)^2 R^4 / 4), delivered to the core;
- laser light: a top-hat beam of the spot area on the skin over the tumor, diffusion
  fluence along depth with local absorption (tissue + agents), Q = mu_a Phi.

An intravenous imaging agent (:mod:`.agent`: plasma clearance, tumor uptake) adds to the
absorber maps after :meth:`MouseTumor.inject` (or ``agent_dose`` in the parameters); its
concentration follows model time, and the laser heat source is refreshed at every
``advance`` while the laser is on.

Heat sources are evaluated at fixed temperatures so the model stays linear; the
temperature dependence of SLP and perfusion is neglected (a few % per K).  The unheated
steady state is solved at construction, so the model starts without drift.  Time
stepping: TR-BDF2 (:mod:`.bioheat`) in steps of at most ``max_step_s`` (2 s: < 0.003 C
from a 0.125 s reference during the fastest transient, tested); the default 0.5 mm grid
is within 0.02 C of a 0.1 mm grid (cells crossing the tumor surface or the skin layer
take volume-weighted properties).

Default parameters and their sources: :mod:`.tumor_params`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from labctl.simulators.physics import magnetics, optics
from labctl.simulators.physics.agent import AgentKinetics, Injection
from labctl.simulators.physics.bioheat import (
    AxiGrid,
    Boundary,
    CoreNode,
    PennesSolver,
    graded_faces,
)
from labctl.simulators.physics.tumor_params import TumorParams

__all__ = ["MouseTumor", "TumorParams"]


@dataclass
class _Inputs:
    frequency_Hz: float = 0.0
    field_A_m: float = 0.0
    power_W: float = 0.0
    wavelength_nm: float = 808.0
    spot_area_cm2: float = 1.0


class MouseTumor:
    """The mouse-flank tumor sample model (implements ``SampleModel``)."""

    def __init__(
        self, params: TumorParams | None = None, iron_map: np.ndarray | None = None
    ) -> None:
        p = self.params = params or TumorParams()
        mm = 1e-3
        self.radius_m = p.tumor_diameter_mm * mm / 2
        self.center_m = (p.skin_thickness_mm + p.tumor_depth_mm) * mm + self.radius_m
        deep = self.center_m + self.radius_m
        g = self.grid = AxiGrid(
            graded_faces(p.domain_radius_mm * mm, p.grid_step_mm * mm, self.radius_m + 1.5 * mm),
            graded_faces(
                max(p.domain_depth_mm * mm, deep + 3 * mm), p.grid_step_mm * mm, deep + 1.5 * mm
            ),
        )
        self.tumor_fraction = g.fraction_inside_sphere(self.center_m, self.radius_m)
        zf = g.z_faces
        skin = np.clip((p.skin_thickness_mm * mm - zf[:-1]) / np.diff(zf), 0.0, 1.0)[:, None]
        self.skin_fraction = skin * (1.0 - self.tumor_fraction)
        self.tissue_fraction = 1.0 - self.tumor_fraction - self.skin_fraction

        def mix(tumor: float, tissue: float, skin_value: float) -> np.ndarray:
            return (
                self.tumor_fraction * tumor
                + self.tissue_fraction * tissue
                + self.skin_fraction * skin_value
            )

        k = mix(p.k_tumor, p.k_tissue, p.k_skin)
        rho_c = mix(p.rho_tumor * p.c_tumor, p.rho_tissue * p.c_tissue, p.rho_skin * p.c_skin)
        perf = (
            p.rho_blood * p.c_blood * mix(p.perfusion_tumor, p.perfusion_tissue, p.perfusion_skin)
        )
        self.q_met = mix(p.metabolic_tumor, p.metabolic_tissue, p.metabolic_skin)
        vol = g.volume
        body_c = p.body_mass_g * 1e-3 * p.c_body
        core = CoreNode(
            max(body_c - float((rho_c * vol).sum()), 0.2 * body_c),
            p.core_conductance_W_K,
            p.T_air_C,
        )
        self.solver = PennesSolver(
            g,
            k,
            rho_c,
            perf,
            top=Boundary(p.h_W_m2K, p.T_air_C),
            bottom=Boundary(math.inf, 0.0, to_core=True),
            outer=Boundary(0.0),
            core=core,
        )
        self.k_top = k[0]
        self.iron_map = (
            np.full(g.volume.shape, p.iron_mg_per_mL) * self.tumor_fraction
            if iron_map is None
            else self._check_map(iron_map)
        )
        self._inputs = _Inputs()
        self._unit_sources: tuple[np.ndarray, ...] | None = None  # see _source_vector
        rr, zz = np.meshgrid(g.r, g.z)
        self._tumor_rho = np.hypot(rr, zz - self.center_m) / self.radius_m
        self.agent = AgentKinetics(p.agent, body_mass_g=p.body_mass_g)
        if p.agent_dose > 0:
            self.agent.inject(-p.agent_injected_h_before * 3600.0, p.agent_dose)
        # baseline: steady state with basal body heat chosen so that the core sits at core_C
        n = self.solver.n_cells
        s0 = self._source_vector(0.0)
        unit = np.zeros(self.solver.size)
        unit[n] = 1.0
        x0, x1 = self.solver.steady(s0), self.solver.steady(unit, boundaries=False)
        self.body_basal_W = float((p.core_C - x0[n]) / x1[n])
        self._source = self._source_vector(self.body_basal_W)
        self.x = x0 + self.body_basal_W * x1
        self.x_baseline = self.x.copy()
        self._steady_source: np.ndarray | None = self._source.copy()  # x is its steady state
        self.t_s = 0.0
        where = {"tumor": (0.0, self.center_m), "tumor_edge": (self.radius_m, self.center_m)}
        where.update({name: (float(r), float(z)) for name, (r, z) in p.positions.items()})
        self._positions = {name: self._interpolation(*rz) for name, rz in where.items()}

    # -- SampleModel ---------------------------------------------------------------------
    @property
    def positions(self) -> tuple[str, ...]:
        return ("tumor", "tumor_edge", "skin", "rectal", "reference", *self.params.positions)

    def advance(self, dt_s: float) -> None:
        if dt_s < 0:
            raise ValueError(f"cannot advance the sample by a negative time ({dt_s} s)")
        if dt_s == 0:
            return
        if self._inputs.power_W > 0 and self.agent.injected:  # agent moves: refresh Q_laser
            self._source = self._source_vector(self.body_basal_W)
        steady = self._steady_source
        if steady is None or not np.array_equal(steady, self._source):
            # (at the steady state of unchanged sources nothing moves: skip the integration)
            self.x = self.solver.integrate(self.x, dt_s, self._source, self.params.max_step_s)
            self._steady_source = None
        self.t_s += dt_s

    def set_amf(self, frequency_Hz: float, field_A_m: float) -> None:
        if frequency_Hz < 0 or field_A_m < 0:
            raise ValueError(
                f"AMF frequency and field must be >= 0, got {frequency_Hz}, {field_A_m}"
            )
        self._inputs.frequency_Hz, self._inputs.field_A_m = float(frequency_Hz), float(field_A_m)
        self._source = self._source_vector(self.body_basal_W)

    def set_laser(self, power_W: float, wavelength_nm: float, spot_area_cm2: float) -> None:
        if power_W < 0:
            raise ValueError(f"laser power must be >= 0 W, not {power_W}")
        if power_W > 0 and not (spot_area_cm2 > 0 and 600.0 <= wavelength_nm <= 1300.0):
            raise ValueError(
                f"laser needs a spot area > 0 cm^2 and 600-1300 nm, got "
                f"{spot_area_cm2} cm^2 at {wavelength_nm} nm"
            )
        self._inputs.power_W, self._inputs.wavelength_nm = float(power_W), float(wavelength_nm)
        self._inputs.spot_area_cm2 = float(spot_area_cm2)
        self._source = self._source_vector(self.body_basal_W)

    def temperature(self, position: str) -> float:
        if position == "rectal":
            return float(self.x[-1])
        if position == "reference":
            return self.params.T_air_C
        if position == "skin":
            return float(self._surface_temperature()[0])
        if position in self._positions:
            idx, w, const = self._positions[position]
            return float(w @ self.x[idx] + const)
        raise KeyError(f"unknown position {position!r}; known: {self.positions}")

    def amf_power_W(self) -> float:
        """Power the alternating field deposits in the animal (particles + eddy), W."""
        key = (self._inputs.frequency_Hz, self._inputs.field_A_m)
        if getattr(self, "_amf_power_key", None) != key:
            parts = self._heat_parts()
            self._amf_power_key, self._amf_power = key, parts["particles"] + parts["eddy"]
        return self._amf_power

    def truth(self) -> dict:
        """Inputs, true SLP (W/g Fe) and ILP, heat flows (W: ``power_particles_W``,
        ``power_eddy_W``, ``power_laser_W``, ``power_absorbed_W`` their sum,
        ``power_sources_W`` all sources incl. metabolism, ``power_to_air_W``,
        ``power_body_loss_W``), energy stored since baseline (J), ``T_<position>_C``."""
        inp, p = self._inputs, self.params
        slp_fe = self._slp_fe()
        parts = self._heat_parts()
        vol = self.grid.volume
        tumor = self.tumor_fraction > 0.5
        T = self.temperature_field()[2]
        out = {
            "t_s": self.t_s,
            "frequency_Hz": inp.frequency_Hz,
            "field_A_m": inp.field_A_m,
            "slp_W_per_g_Fe": slp_fe / 1e3,
            "ilp_nH_m2_per_kg": magnetics.ilp(
                slp_fe * magnetics.FE_MASS_FRACTION_MAGNETITE, inp.frequency_Hz, inp.field_A_m
            ),
            "laser_W": inp.power_W,
            "wavelength_nm": inp.wavelength_nm,
            "irradiance_W_cm2": inp.power_W / inp.spot_area_cm2 if inp.power_W else 0.0,
            "skin_mpe_W_cm2": optics.skin_mpe(inp.wavelength_nm),
            "iron_mg": float((self.iron_map * vol).sum() * 1e6),
            "tumor_volume_mL": float((self.tumor_fraction * vol).sum() * 1e6),
            "T_tumor_mean_C": float(
                (T * self.tumor_fraction * vol).sum() / (self.tumor_fraction * vol).sum()
            ),
            "T_tumor_max_C": float(T[tumor].max()),
            "body_basal_W": self.body_basal_W,
            "stored_energy_J": float(self.solver.capacity @ (self.x - self.x_baseline)),
            "power_to_air_W": float(self.solver.g_top @ (self.x[: self.grid.nr] - p.T_air_C)),
            "power_body_loss_W": p.core_conductance_W_K * (float(self.x[-1]) - p.T_air_C),
        }
        out.update({f"power_{k}_W": v for k, v in parts.items()})
        out["power_absorbed_W"] = parts["particles"] + parts["eddy"] + parts["laser"]
        out["power_sources_W"] = float(self._source.sum())
        out["agent_plasma"] = self.agent.plasma(self.t_s)
        out["agent_tumor"] = self.agent.tumor(self.t_s)
        out["agent_percent_ID_per_g"] = self.agent.percent_injected_dose_per_g(self.t_s)
        out["agent_injections"] = len(self.agent.injections)
        for name in self.positions:
            out[f"T_{name}_C"] = self.temperature(name)
        return out

    # -- fields --------------------------------------------------------------------------
    def temperature_field(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(r centres m, z centres m, T[z, r] C) of the grid."""
        g = self.grid
        return g.r, g.z, self.x[: self.solver.n_cells].reshape(g.nz, g.nr).copy()

    def tumor_temperatures(self) -> tuple[np.ndarray, np.ndarray]:
        """(T C, tumor volume mL) of every grid cell holding tumor (cells crossing the
        tumor surface weighted by the tumor's share of their volume)."""
        T = self.temperature_field()[2]
        vol_mL = self.tumor_fraction * self.grid.volume * 1e6
        inside = vol_mL > 0
        return T[inside], vol_mL[inside]

    def temperature_at(self, r_m: float, z_m: float) -> float:
        """Temperature at (r, z) m, bilinear between cell centres (and the skin surface), C."""
        idx, w, const = self._interpolation(r_m, z_m)
        return float(w @ self.x[idx] + const)

    def _interpolation(self, r_m: float, z_m: float) -> tuple[np.ndarray, np.ndarray, float]:
        """T(r, z) = w . x[idx] + const: bilinear weights over the cell centres, with the skin
        surface (a linear function of the top cells) as the row at z = 0."""
        g, p = self.grid, self.params
        zz = np.concatenate([[0.0], g.z])
        j = int(np.clip(np.searchsorted(zz, z_m) - 1, 0, len(zz) - 2))
        wz = float(np.clip((z_m - zz[j]) / (zz[j + 1] - zz[j]), 0.0, 1.0))
        i = int(np.clip(np.searchsorted(g.r, r_m) - 1, 0, g.nr - 2))
        wr = float(np.clip((r_m - g.r[i]) / (g.r[i + 1] - g.r[i]), 0.0, 1.0))
        g_cond = self.k_top / (g.z[0] - g.z_faces[0])
        a_surf = g_cond / (g_cond + p.h_W_m2K)
        idx, w, const = [], [], 0.0
        for row, w_row in ((j, 1.0 - wz), (j + 1, wz)):
            for col, w_col in ((i, 1.0 - wr), (i + 1, wr)):
                weight = w_row * w_col
                if row == 0:  # skin surface
                    idx.append(col)
                    w.append(weight * a_surf[col])
                    const += weight * (1.0 - a_surf[col]) * p.T_air_C
                else:
                    idx.append((row - 1) * g.nr + col)
                    w.append(weight)
        return np.array(idx), np.array(w), const

    def absorber_maps(self) -> dict[str, np.ndarray]:
        """Concentration maps [z, r] in :data:`optics.ABSORBER_UNITS` (imaging, heating)."""
        p = self.params
        c_hb = optics.HB_MOLAR_MASS_G_MOL
        blood = (
            self.tumor_fraction * p.blood_fraction_tumor
            + (1 - self.tumor_fraction) * p.blood_fraction_tissue
        )
        so2 = self.tumor_fraction * p.so2_tumor + (1 - self.tumor_fraction) * p.so2_tissue
        maps = {
            "HbO2": blood * so2 * 150.0 / c_hb,
            "Hb": blood * (1 - so2) * 150.0 / c_hb,
            "water": np.full(blood.shape, p.water_fraction),
            "iron_oxide": self.iron_map,
            "gold_nanorod": self.tumor_fraction * p.gold_nanorod_mg_per_mL,
            "icg": self.tumor_fraction * p.icg_uM * 1e-6,
        }
        if self.agent.injected:
            maps[p.agent.absorber] = maps[p.agent.absorber] + self.agent_map()
        return maps

    def agent_map(self) -> np.ndarray:
        """Injected agent concentration [z, r] now, in its absorber's unit (:mod:`.agent`)."""
        p = self.params
        blood = (
            self.tumor_fraction * p.blood_fraction_tumor
            + (1 - self.tumor_fraction) * p.blood_fraction_tissue
        )
        return self.agent.concentration_map(self.t_s, self.tumor_fraction, self._tumor_rho, blood)

    def inject(self, dose: float) -> Injection:
        """Intravenous bolus of the agent now (dose in ``self.agent.dose_unit``)."""
        inj = self.agent.inject(self.t_s, dose)
        self._source = self._source_vector(self.body_basal_W)
        return inj

    def optical_properties(self, wavelength_nm: float) -> tuple[np.ndarray, np.ndarray]:
        """(mu_a, mu_s') maps [z, r] in 1/cm at ``wavelength_nm``."""
        mua = optics.mu_a(wavelength_nm, self.absorber_maps()) + self.params.background_mu_a
        mus = np.full(mua.shape, optics.reduced_scattering(wavelength_nm))
        return mua, mus

    def fluence_field(
        self, wavelength_nm: float, power_W: float, spot_area_cm2: float
    ) -> np.ndarray:
        """Fluence rate map [z, r] in W/cm^2 for a top-hat beam centred on the tumor."""
        g = self.grid
        mua, mus = self.optical_properties(wavelength_nm)
        r_spot = math.sqrt(spot_area_cm2 / math.pi) * 1e-2  # m
        rf = g.r_faces
        inside = np.clip((r_spot**2 - rf[:-1] ** 2) / np.diff(rf**2), 0.0, 1.0)
        E0 = power_W / spot_area_cm2 * inside
        return optics.fluence_layered(g.z_faces * 100, mua, mus, E0, self.params.refractive_index)

    def steady_state(
        self,
        frequency_Hz: float = 0.0,
        field_A_m: float = 0.0,
        power_W: float = 0.0,
        wavelength_nm: float = 808.0,
        spot_area_cm2: float = 1.0,
    ) -> dict[str, float]:
        """Steady-state temperatures (C) of the named positions for constant inputs."""
        saved, state = self._inputs, self.x
        try:
            self._inputs = _Inputs(frequency_Hz, field_A_m, power_W, wavelength_nm, spot_area_cm2)
            self.x = self.solver.steady(self._source_vector(self.body_basal_W))
            return {name: self.temperature(name) for name in self.positions}
        finally:
            self._inputs, self.x = saved, state

    def set_iron_map(self, iron_mg_per_mL: np.ndarray) -> None:
        """Replace the iron concentration map [z, r] (mg Fe/mL); shape ``(grid.nz, grid.nr)``."""
        self.iron_map = self._check_map(iron_mg_per_mL)
        self._unit_sources = None
        self._source = self._source_vector(self.body_basal_W)

    # -- internals -----------------------------------------------------------------------
    def _check_map(self, m: np.ndarray) -> np.ndarray:
        m = np.asarray(m, dtype=float)
        if m.shape != self.grid.volume.shape or np.any(m < 0):
            raise ValueError(f"iron map must be non-negative with shape {self.grid.volume.shape}")
        return m.copy()

    def _slp_fe(self) -> float:
        p, inp = self.params, self._inputs
        return magnetics.slp_per_fe(
            p.particle,
            inp.frequency_Hz,
            inp.field_A_m,
            p.slp_temperature_C + 273.15,
            immobilized=True,
        )

    def _heat_maps(self) -> dict[str, np.ndarray]:
        """External heat densities [z, r], W/m^3."""
        inp, p, g = self._inputs, self.params, self.grid
        q_np = self._slp_fe() * self.iron_map
        q_eddy = magnetics.eddy_power_density(p.sigma_S_m, inp.frequency_Hz, inp.field_A_m, g.r)[
            None, :
        ] * np.ones((g.nz, 1))
        q_laser = np.zeros_like(q_np)
        if inp.power_W > 0:
            mua, _ = self.optical_properties(inp.wavelength_nm)
            q_laser = (
                mua * self.fluence_field(inp.wavelength_nm, inp.power_W, inp.spot_area_cm2) * 1e6
            )
        return {"particles": q_np, "eddy": q_eddy, "laser": q_laser}

    def _body_eddy_W(self) -> float:
        p, inp = self.params, self._inputs
        e = math.pi * magnetics.MU0 * inp.frequency_Hz * inp.field_A_m
        R = self.grid.r_faces[-1]
        return p.sigma_S_m * math.pi * p.body_in_field_mm * 1e-3 * e**2 * R**4 / 4.0

    def _heat_parts(self) -> dict[str, float]:
        vol = self.grid.volume
        parts = {k: float((v * vol).sum()) for k, v in self._heat_maps().items()}
        parts["eddy"] += self._body_eddy_W()
        return parts

    def _source_vector(self, body_basal_W: float) -> np.ndarray:
        """Heat into each cell and the core, W (as ``_heat_maps`` times cell volumes).

        Metabolism, iron (per W/g Fe) and eddy heating (per (f H)^2) are kept per cell
        volume, so a new field amplitude costs two scaled additions.
        """
        inp, p, g = self._inputs, self.params, self.grid
        if self._unit_sources is None:
            eddy = magnetics.eddy_power_density(p.sigma_S_m, 1.0, 1.0, g.r)[None, :]
            self._unit_sources = (
                (self.q_met * g.volume).ravel(),
                (self.iron_map * g.volume).ravel(),
                (eddy * np.ones((g.nz, 1)) * g.volume).ravel(),
            )
        met, iron, eddy = self._unit_sources
        fh = inp.frequency_Hz * inp.field_A_m
        q = met + self._slp_fe() * iron + (fh * fh) * eddy
        if inp.power_W > 0:
            q += (self._heat_maps()["laser"] * g.volume).ravel()
        return np.concatenate([q, [body_basal_W + self._body_eddy_W()]])

    def _surface_temperature(self) -> np.ndarray:
        """Skin surface temperature over each ring, C (series conduction + convection)."""
        p, nr = self.params, self.grid.nr
        g_cond = self.k_top / (self.grid.z[0] - self.grid.z_faces[0])
        return (g_cond * self.x[:nr] + p.h_W_m2K * p.T_air_C) / (g_cond + p.h_W_m2K)
