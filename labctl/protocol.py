"""Declarative protocols: a YAML file naming a bench, metadata and a list of plan steps.

```yaml
protocol: hyperthermia-43C-30min
bench: ../benches/sim-mouse.yaml        # relative to this file
metadata: {study: MH-2026-07, animal_id: M12, nanoparticle: IONP-14nm lot 3,
           dose_mg_Fe_per_mL: 5, operator: jd}
steps:
  - plan: magnetic_hyperthermia
    args: {target: 43, hold: 1800, frequency: 230000, max_field: 12}
```

Each step's devices default to the bench devices named like the plan's parameters
(``amf``, ``thermo``, ``laser``...), or are mapped with ``devices: {amf: coil2}``.
Every step is built (and so validated against the bench limits) before the first one
runs: a protocol that would exceed a limit anywhere energizes nothing.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from labctl.core.errors import ConfigError, LabctlError
from labctl.yamlfile import YamlDoc, format_validation_error, load_yaml

__all__ = ["Protocol", "Step", "load_protocol", "build_steps", "bench_path", "DEVICE_PARAMETERS"]

#: plan parameters that name bench devices
DEVICE_PARAMETERS = ("amf", "thermo", "laser", "oa", "fluo")


def _plans() -> dict:
    from labctl import plans

    return {name: getattr(plans, name) for name in plans.__all__}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Metadata(BaseModel):
    """Recorded in every run's start document; extra fields are kept."""

    model_config = ConfigDict(extra="allow")
    study: str | None = None
    animal_id: str | None = None
    sample_id: str | None = None
    nanoparticle: str | None = None
    dose: str | float | None = None
    operator: str | None = None
    notes: str | None = None


class Step(_Strict):
    plan: str
    args: dict[str, Any] = Field(default_factory=dict)
    devices: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)


class Protocol(_Strict):
    protocol: str
    description: str = ""
    bench: str | None = None
    metadata: Metadata = Field(default_factory=Metadata)
    steps: list[Step] = Field(..., min_length=1)


def load_protocol(path: str | Path | None = None, *, text: str | None = None,
                  source: str | None = None) -> tuple[Protocol, YamlDoc]:
    """Read and validate a protocol file (structure and plan names/arguments)."""
    doc = load_yaml(path, text=text, source=source)
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{doc.source}: a protocol file must be a mapping of keys")
    try:
        protocol = Protocol.model_validate(doc.data)
    except ValidationError as exc:
        raise format_validation_error(exc, doc, "protocol file") from None
    plans = _plans()
    for i, step in enumerate(protocol.steps):
        where = doc.where(("steps", i, "plan"))
        if step.plan not in plans:
            raise ConfigError(f"{where}: unknown plan {step.plan!r} "
                              f"(known: {', '.join(sorted(plans))})")
        params = inspect.signature(plans[step.plan]).parameters
        for key in step.args:
            if key not in params or key in DEVICE_PARAMETERS or key == "md":
                allowed = [p for p in params if p not in DEVICE_PARAMETERS and p != "md"]
                raise ConfigError(f"{doc.where(('steps', i, 'args', key))}: plan "
                                  f"{step.plan!r} has no argument {key!r} "
                                  f"(arguments: {', '.join(allowed)})")
        for key in step.devices:
            if key not in params or key not in DEVICE_PARAMETERS:
                raise ConfigError(f"{doc.where(('steps', i, 'devices', key))}: plan "
                                  f"{step.plan!r} takes no device {key!r}")
    return protocol, doc


def bench_path(protocol: Protocol, doc: YamlDoc) -> Path | None:
    """The protocol's bench file, resolved relative to the protocol file."""
    if protocol.bench is None:
        return None
    p = Path(protocol.bench)
    if not p.is_absolute() and doc.source not in ("<text>",):
        p = Path(doc.source).parent / p
    return p


def build_steps(protocol: Protocol, doc: YamlDoc, bench) -> list:
    """Make every step's plan (validating its setpoints against the bench) up front."""
    plans = _plans()
    built = []
    for i, step in enumerate(protocol.steps):
        fn = plans[step.plan]
        params = inspect.signature(fn).parameters
        kwargs = dict(step.args)
        positional = []
        for pname in params:
            if pname not in DEVICE_PARAMETERS:
                continue
            device_name = step.devices.get(pname, pname)
            device = bench.devices.get(device_name)
            if device is None:
                raise ConfigError(f"{doc.where(('steps', i))}: plan {step.plan!r} needs a "
                                  f"device {device_name!r}, which bench {bench.name!r} lacks "
                                  f"(devices: {', '.join(bench.devices)})")
            positional.append(device)
        md = {**protocol.metadata.model_dump(exclude_none=True), **step.metadata,
              "protocol": protocol.protocol, "protocol_step": i}
        try:
            built.append(fn(*positional, **kwargs, md=md))
        except TypeError as exc:
            raise ConfigError(f"{doc.where(('steps', i, 'args'))}: {exc}") from None
        except LabctlError as exc:
            raise type(exc)(f"{doc.where(('steps', i, 'args'))}: {exc}") from None
    return built
