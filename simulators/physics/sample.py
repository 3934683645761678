"""The physical sample models and the factory the bench uses to build one.

A bench file says e.g. ``sample: {kind: mouse_tumor, iron_mg_per_mL: 5.0, seed: 1}``;
:func:`make_sample` checks the parameter names and values against the model's parameter
dataclass (:class:`~labctl.simulators.physics.vial.VialParams`,
:class:`~labctl.simulators.physics.tumor.TumorParams`) and raises ``ConfigError`` naming the
offending parameter.

Two extra parameters are common to all kinds: ``seed`` and ``variability``.  With
``variability > 0`` the physiological/setup parameters that differ most between animals
or vials (mouse: tumor and tissue perfusion and tumor metabolic heat; vial: the heat-loss
coefficient) are scaled by independent log-normal factors of that relative spread, drawn
from ``seed``: a cohort of simulated animals.  With the default ``variability = 0`` the
model is the nominal one and ``seed`` has no effect (the physics itself is deterministic;
measurement noise comes from the world's generator).
"""

from __future__ import annotations

import dataclasses
import math
from numbers import Real
from typing import Any

import numpy as np

from labctl.core.errors import ConfigError
from labctl.simulators.physics.agent import AgentParams
from labctl.simulators.physics.magnetics import Nanoparticle
from labctl.simulators.physics.tumor import MouseTumor, TumorParams
from labctl.simulators.physics.vial import Vial, VialParams

__all__ = [
    "make_sample",
    "describe_sample",
    "SAMPLE_KINDS",
    "Vial",
    "VialParams",
    "MouseTumor",
    "TumorParams",
]

SAMPLE_KINDS = {"vial": (Vial, VialParams), "mouse_tumor": (MouseTumor, TumorParams)}
_VARIED = {
    "vial": ("loss_W_per_K",),
    "mouse_tumor": ("perfusion_tumor", "perfusion_tissue", "metabolic_tumor"),
}


def describe_sample(sample: Vial | MouseTumor) -> dict[str, str]:
    """The simulated sample's description for run metadata, from the model's own
    parameters (so the metadata cannot disagree with the physics): ``kind``,
    ``nanoparticle``, ``dose`` (iron), and ``source`` saying it was simulated."""
    p = sample.params
    out = {"kind": "mouse_tumor" if isinstance(sample, MouseTumor) else "vial"}
    out["source"] = "simulated twin (the model's parameters)"
    out["nanoparticle"] = p.particle.describe()
    if isinstance(sample, MouseTumor):
        out["dose"] = f"{p.iron_mg_per_mL:g} mg Fe per mL tumor ({p.tumor_diameter_mm:g} mm tumor)"
    else:
        out["dose"] = f"{p.iron_mg:g} mg Fe in the vial"
    return out


def make_sample(kind: str, **params: Any) -> Vial | MouseTumor:
    """Build a sample model of ``kind`` (``"vial"`` or ``"mouse_tumor"``) from parameters.

    ``particle`` may be a :class:`Nanoparticle` or a mapping of its field names.
    ``positions`` (mouse) maps extra probe names to ``(r_m, z_m)``.
    """
    if kind not in SAMPLE_KINDS:
        raise ConfigError(f"sample kind {kind!r} is unknown; choose one of {sorted(SAMPLE_KINDS)}")
    model_cls, params_cls = SAMPLE_KINDS[kind]
    seed = params.pop("seed", None)
    variability = params.pop("variability", 0.0)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ConfigError(f"sample parameter 'seed' must be an integer, not {seed!r}")
    _check_number(kind, "variability", variability)
    fields = {f.name: f for f in dataclasses.fields(params_cls)}
    values: dict[str, Any] = {}
    for name, value in params.items():
        if name not in fields:
            raise ConfigError(
                f"sample kind {kind!r}: unknown parameter {name!r}; allowed: "
                f"{', '.join(sorted([*fields, 'seed', 'variability']))}"
            )
        if name == "particle":
            values[name] = _particle(kind, value)
        elif name == "positions":
            values[name] = _positions(kind, value)
        elif name == "agent" and kind == "mouse_tumor":
            values[name] = _agent(kind, value)
        elif name == "T_start_C" and value is None or name == "slp_temperature_C" and value is None:
            values[name] = None
        else:
            values[name] = _check_number(kind, name, value)
    try:
        base = params_cls(**values)
        if variability > 0:
            rng = np.random.default_rng(seed)
            scaled = {
                name: getattr(base, name) * float(rng.lognormal(0.0, variability))
                for name in _VARIED[kind]
            }
            base = dataclasses.replace(base, **scaled)
        return model_cls(base)
    except ValueError as exc:
        raise ConfigError(f"sample kind {kind!r}: {exc}") from exc


def _check_number(kind: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ConfigError(
            f"sample kind {kind!r}: parameter {name!r} must be a finite number, not {value!r}"
        )
    if value < 0 and name not in ("T_amb_C", "T_air_C", "T_start_C", "core_C", "slp_temperature_C"):
        raise ConfigError(f"sample kind {kind!r}: parameter {name!r} must be >= 0, not {value!r}")
    return float(value)


def _particle(kind: str, value: Any) -> Nanoparticle:
    if isinstance(value, Nanoparticle):
        return value
    if not isinstance(value, dict):
        raise ConfigError(
            f"sample kind {kind!r}: 'particle' must be a mapping of "
            f"{[f.name for f in dataclasses.fields(Nanoparticle)]}"
        )
    allowed = {f.name for f in dataclasses.fields(Nanoparticle)}
    for key, v in value.items():
        if key not in allowed:
            raise ConfigError(
                f"sample kind {kind!r}: unknown parameter 'particle.{key}'; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        if key != "neel_model":
            _check_number(kind, f"particle.{key}", v)
    try:
        return Nanoparticle(**{k: v if k == "neel_model" else float(v) for k, v in value.items()})
    except ValueError as exc:
        raise ConfigError(f"sample kind {kind!r}: {exc}") from exc


def _agent(kind: str, value: Any) -> AgentParams:
    if isinstance(value, AgentParams):
        return value
    allowed = {f.name for f in dataclasses.fields(AgentParams)}
    if not isinstance(value, dict):
        raise ConfigError(f"sample kind {kind!r}: 'agent' must be a mapping of {sorted(allowed)}")
    for key in value:
        if key not in allowed:
            raise ConfigError(
                f"sample kind {kind!r}: unknown parameter 'agent.{key}'; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
    try:
        return AgentParams(**value)
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"sample kind {kind!r}, agent: {exc}") from exc


def _positions(kind: str, value: Any) -> dict[str, tuple[float, float]]:
    if kind != "mouse_tumor" or not isinstance(value, dict):
        raise ConfigError(f"sample kind {kind!r}: 'positions' must map names to (r_m, z_m)")
    out = {}
    for name, rz in value.items():
        if not (isinstance(rz, (list, tuple)) and len(rz) == 2):
            raise ConfigError(
                f"sample kind {kind!r}: position {name!r} must be (r_m, z_m), not {rz!r}"
            )
        out[str(name)] = (
            _check_number(kind, f"positions.{name}", rz[0]),
            _check_number(kind, f"positions.{name}", rz[1]),
        )
    return out
