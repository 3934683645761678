"""A simulated animal that lives between sessions: its draws, agent, tumor and heat history.

Each study subject on the simulated twin is one :class:`SubjectState`, kept as JSON in the
study's directory.  Nothing runs between sessions: at a session's start the state is
advanced analytically to the session time and turned into the bench's ``sample``
parameters, so a 24 h session sees what accumulated since the injection.

- Agent: the plasma / tumor-interstitium kinetics of :mod:`.agent` (Bateman function,
  closed form in the time since injection); the agent cleared from plasma goes to the
  mononuclear phagocyte system (liver and spleen), which retains ``res_fraction`` of it
  (most of an injected nanoparticle dose ends there: Y.-N. Zhang et al., J. Control.
  Release 240 (2016) 332).  This organ compartment is a bookkeeping model: it has no
  signal in the tumor images.
- Tumor: exponential volume growth with doubling time ``doubling_d`` (the early phase of
  the growth laws compared by S. Benzekry et al., PLoS Comput. Biol. 10 (2014) e1003800;
  syngeneic mouse tumors double in 2-4 days).  Treatment does not change the growth in
  this model.
- Heat: each heated session appends its tumor-temperature summary (peak, CEM43 in
  minutes, Sapareto-Dewey) to the history.

Between-animal variability: log-normal factors (median 1, coefficient of variation
``cv``) on the agent transfer constant K_trans and plasma half-life, on tumor perfusion
and on the tumor diameter at study time 0, drawn once per subject from the study seed
and the subject's position, so a study is reproducible subject by subject.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labctl.simulators.physics.agent import AgentKinetics, AgentParams

__all__ = ["SubjectState", "lognormal_factor"]

_HOUR = 3600.0
_DAY = 86400.0


def lognormal_factor(rng: np.random.Generator, cv: float) -> float:
    """A log-normal factor of median 1 and coefficient of variation ``cv``."""
    if cv <= 0:
        return 1.0
    sigma = math.sqrt(math.log1p(cv * cv))
    return float(math.exp(rng.normal(0.0, sigma)))


@dataclass
class SubjectState:
    """One simulated subject (study times in s since study time 0)."""

    subject: str
    k_trans_factor: float = 1.0
    plasma_half_life_factor: float = 1.0
    perfusion_factor: float = 1.0
    diameter0_mm: float = 6.0
    doubling_d: float = 3.0
    res_fraction: float = 0.8
    body_mass_g: float = 25.0
    agent: dict = field(default_factory=dict)  #: AgentParams fields of the administered agent
    administrations: list = field(default_factory=list)  #: [{t_s, dose, agent}]
    heat: list = field(default_factory=list)  #: [{session, t_s, peak_C, cem43_min}]
    t_s: float = 0.0  #: study time the subject has reached
    carrier: dict | None = None  #: LiposomeParams of a liposomal agent (:mod:`.liposome`)
    carrier_x: list = field(default_factory=list)  #: [C_p, L, F, R] at ``carrier_t_s``
    carrier_t_s: float = 0.0

    @classmethod
    def draw(
        cls,
        subject: str,
        seed: int,
        index: int,
        *,
        cv: dict,
        diameter_mm: float,
        doubling_d: float,
        body_mass_g: float,
    ) -> SubjectState:
        """Draw a subject's factors from ``(seed, index)``; ``cv``: name -> coefficient
        of variation (``k_trans``, ``plasma_half_life``, ``perfusion``, ``tumor_diameter``)."""
        rng = np.random.default_rng([int(seed), int(index)])
        return cls(
            subject,
            k_trans_factor=lognormal_factor(rng, cv.get("k_trans", 0.0)),
            plasma_half_life_factor=lognormal_factor(rng, cv.get("plasma_half_life", 0.0)),
            perfusion_factor=lognormal_factor(rng, cv.get("perfusion", 0.0)),
            diameter0_mm=diameter_mm * lognormal_factor(rng, cv.get("tumor_diameter", 0.0)),
            doubling_d=doubling_d,
            body_mass_g=body_mass_g,
        )

    # -- events --------------------------------------------------------------------------
    def administer(self, t_s: float, dose: float, agent: dict, carrier: dict | None = None) -> None:
        """Record a bolus of ``dose`` (the agent's dose unit) at study time ``t_s``;
        ``carrier``: the agent is a liposome (:class:`.liposome.LiposomeParams` fields)."""
        if not (math.isfinite(dose) and dose > 0):
            raise ValueError(f"dose must be > 0, not {dose!r}")
        self.agent = dict(agent)
        self.administrations.append({"t_s": float(t_s), "dose": float(dose)})
        self.administrations.sort(key=lambda a: a["t_s"])
        if carrier is not None:
            lipo = self.liposome(t_s)
            kin = AgentKinetics(self.agent_params(), body_mass_g=self.body_mass_g)
            lipo.inject(kin.inject(t_s, dose).plasma0)
            self.carrier = dict(carrier)
            self._keep(lipo)

    # -- liposomal cargo ------------------------------------------------------------------
    def liposome(self, t_s: float | None = None):
        """The liposome compartments advanced at 37 C to ``t_s`` (default: where they are)."""
        from labctl.simulators.physics.liposome import LiposomeParams, LiposomeState

        p = self.agent_params()
        lipo = LiposomeState(
            LiposomeParams(**(self.carrier or {})),
            p.k_el_per_s,
            p.k_trans_per_s,
            p.k_ep_per_s,
            self.carrier_x or None,
            self.carrier_t_s,
        )
        if t_s is not None and t_s > lipo.t_s:
            lipo.advance(t_s - lipo.t_s, 37.0)
        return lipo

    def _keep(self, lipo) -> None:
        self.carrier_x = [float(v) for v in lipo.x]
        self.carrier_t_s = lipo.t_s

    def heat_carrier(self, t_s: float, times_s, temps_C, end_s: float) -> None:
        """Advance the cargo to ``t_s`` at 37 C, through a tumor temperature record
        (times relative to ``t_s``), then at 37 C to ``end_s``."""
        if self.carrier is None:
            return
        lipo = self.liposome(t_s)
        lipo.follow(np.asarray(times_s, dtype=float), np.asarray(temps_C, dtype=float))
        if end_s > lipo.t_s:
            lipo.advance(end_s - lipo.t_s, 37.0)
        self._keep(lipo)

    def record_heat(self, session: str, t_s: float, peak_C: float, cem43_min: float) -> None:
        self.heat.append({"session": session, "t_s": t_s, "peak_C": peak_C, "cem43_min": cem43_min})

    def advance(self, t_s: float) -> None:
        """Move the subject to study time ``t_s`` (never backwards)."""
        if t_s < self.t_s:
            raise ValueError(f"subject {self.subject}: time {t_s} s is before {self.t_s} s")
        self.t_s = float(t_s)

    # -- state at a time -----------------------------------------------------------------
    def agent_params(self) -> AgentParams:
        base = AgentParams(**self.agent)
        return dataclasses.replace(
            base,
            k_trans_per_h=base.k_trans_per_h * self.k_trans_factor,
            plasma_half_life_h=base.plasma_half_life_h * self.plasma_half_life_factor,
        )

    def kinetics(self) -> AgentKinetics:
        """The subject's agent kinetics, injections on the study time axis."""
        kin = AgentKinetics(self.agent_params(), body_mass_g=self.body_mass_g)
        for a in self.administrations:
            kin.inject(a["t_s"], a["dose"])
        return kin

    def last_administration_s(self, t_s: float) -> float | None:
        times = [a["t_s"] for a in self.administrations if a["t_s"] <= t_s]
        return max(times) if times else None

    def tumor_diameter_mm(self, t_s: float) -> float:
        """Diameter of a sphere whose volume doubles every ``doubling_d`` days."""
        return self.diameter0_mm * 2.0 ** (t_s / (self.doubling_d * _DAY) / 3.0)

    def tumor_volume_mm3(self, t_s: float) -> float:
        return math.pi / 6.0 * self.tumor_diameter_mm(t_s) ** 3

    def snapshot(self, t_s: float) -> dict:
        """Agent in plasma, tumor and the phagocyte organs, tumor size and thermal dose at
        study time ``t_s`` (agent in its absorber unit, amounts in umol or mg)."""
        out = {
            "t_s": t_s,
            "tumor_diameter_mm": self.tumor_diameter_mm(t_s),
            "tumor_volume_mm3": self.tumor_volume_mm3(t_s),
            "cem43_total_min": sum(h["cem43_min"] for h in self.heat if h["t_s"] <= t_s),
        }
        if self.administrations:
            kin = self.kinetics()
            k_el = kin.params.k_el_per_s
            given = sum(
                a["dose"] * self.body_mass_g / 1e3 for a in self.administrations if a["t_s"] <= t_s
            )
            in_plasma = sum(
                a["dose"] * self.body_mass_g / 1e3 * math.exp(-k_el * (t_s - a["t_s"]))
                for a in self.administrations
                if a["t_s"] <= t_s
            )
            out |= {
                "agent_plasma": kin.plasma(t_s),
                "agent_tumor": kin.tumor(t_s),
                "agent_organs_amount": self.res_fraction * (given - in_plasma),
                "agent_given_amount": given,
            }
        return out

    def sample_overrides(self, t_s: float, base: dict) -> dict:
        """The bench's ``sample`` section for a session starting at study time ``t_s``:
        the grown tumor, this animal's perfusion and agent, and the time since its last
        administration (the agent model superposes boluses; the sample takes the last)."""
        sample = dict(base)
        sample["tumor_diameter_mm"] = round(self.tumor_diameter_mm(t_s), 4)
        perfusion = float(sample.get("perfusion_tumor", 1.5e-3))
        sample["perfusion_tumor"] = perfusion * self.perfusion_factor
        t_adm = self.last_administration_s(t_s)
        if t_adm is not None:
            dose = next(a["dose"] for a in self.administrations if a["t_s"] == t_adm)
            agent = self.agent_params()
            if self.carrier is not None:
                agent = self._emitting_agent(agent, t_s, t_adm, dose)
            sample["agent"] = dataclasses.asdict(agent)
            sample["agent_dose"] = dose
            sample["agent_injected_h_before"] = (t_s - t_adm) / _HOUR
        return sample

    def _emitting_agent(self, agent: AgentParams, t_s: float, t_adm: float, dose: float):
        """A liposomal cargo as the sample's agent at ``t_s`` (a model, exact at the
        session's start): the interstitial level scaled to the tumor's cargo ``L + F``
        (encapsulated and released cargo absorb alike), and the quantum yield scaled by
        the tumor's emitting fraction ``(q (L + v_p C_p) + F) / (L + v_p C_p + F)``
        (:mod:`.liposome`; the plasma cargo elsewhere takes the same yield)."""
        lipo = self.liposome(t_s)
        kin = AgentKinetics(agent, body_mass_g=self.body_mass_g)
        kin.inject(t_adm, dose)
        model = kin.tumor(t_s)
        cargo = lipo.x[1] + lipo.free
        scale = cargo / model if model > 0 else 1.0
        total = lipo.encapsulated + lipo.free
        emitting = lipo.emission() / total if total > 0 else lipo.params.quench
        return dataclasses.replace(
            agent,
            quantum_yield=agent.quantum_yield * emitting,
            k_trans_per_h=float(agent.k_trans_per_h * scale),
        )

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the state as JSON (atomically: a crash leaves the previous state)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(self), indent=1))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> SubjectState:
        return cls(**json.loads(Path(path).read_text()))
