"""The fiber-optic thermometer kind: probes read by channel, each channel given a role
(``tumor``, ``rectal``, ``skin``...) that the safety monitor guards."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from labctl.core.errors import ConfigError
from labctl.core.units import Quantity
from labctl.kinds.base import DeviceEntry, Kind, format_info

__all__ = ["ThermometerEntry", "ProbeSimEntry", "ThermometerKind", "KIND"]


class ProbeSimEntry(BaseModel):
    """A simulated probe: where it sits in the sample and how it responds."""

    model_config = ConfigDict(extra="forbid")

    position: str | None = None
    tau_s: Quantity("s", gt=0, le=3600) = 0.5
    noise_C: Quantity("delta_degC", ge=0, le=10) = 0.05
    resolution_C: Quantity("delta_degC", gt=0, le=10) = 0.1
    offset_C: Quantity("delta_degC", ge=-10, le=10) = 0.0


class ThermometerEntry(DeviceEntry):
    """``kind: thermometer``: ``channels`` maps channel index (1-based) -> role."""

    fault_kinds: ClassVar[tuple[str, ...]] = ("probe_broken", "probe_stuck")

    driver: str = "neoptix_reflex"
    channels: dict[int, str] = Field(..., description="channel index (1-based) -> role")
    probes: dict[str, ProbeSimEntry] = Field(
        default_factory=dict, description="simulated probes by role (position, lag, noise)"
    )

    @field_validator("channels")
    @classmethod
    def _roles(cls, v):
        if not v:
            raise ValueError("at least one channel is needed")
        roles = list(v.values())
        if len(set(roles)) != len(roles):
            raise ValueError(f"channel roles must be unique, got {roles}")
        for idx, role in v.items():
            if idx < 1:
                raise ValueError(f"channel index {idx} is not >= 1")
            if not role.isidentifier():
                raise ValueError(f"role {role!r} must be a Python identifier")
        return v

    @model_validator(mode="after")
    def _probe_faults(self):
        roles = list(self.channels.values())
        for i, fault in enumerate(self.faults):
            if fault.kind.startswith("probe_"):
                if fault.role not in roles:
                    raise ValueError(f"faults.{i}: {fault.kind} needs 'role', one of {roles}")
                if fault.kind == "probe_stuck" and fault.value is None:
                    raise ValueError(f"faults.{i}: probe_stuck needs the frozen 'value' (C)")
        unknown = set(self.probes) - set(roles)
        if unknown:
            raise ValueError(
                f"probes: roles {sorted(unknown)} are not channels of this thermometer"
            )
        return self


class ThermometerKind(Kind):
    name = "thermometer"
    entry = ThermometerEntry
    device = "labctl.devices.thermometer:FiberOpticThermometer"
    thermometer = True

    def roles(self, entry: ThermometerEntry) -> dict[int, str]:
        return dict(entry.channels)

    def device_options(self, name, entry: ThermometerEntry, bench) -> dict:
        return {"roles": dict(entry.channels)}

    def emulator_options(self, name, entry: ThermometerEntry, sample) -> dict:
        """``probes``: channel index -> a simulated fiber probe at its sample position
        (a role the sample has no position for gets no probe: it reads as missing)."""
        from labctl.simulators.physics.probes import FiberProbe

        positions = tuple(sample.positions)
        probes = {}
        for idx, role in entry.channels.items():
            pc = entry.probes.get(role)
            position = pc.position if pc and pc.position else role
            if position not in positions:
                if pc and pc.position:
                    raise ConfigError(
                        f"devices.{name}.probes.{role}.position: {position!r} is not a "
                        f"position of the sample (known: {', '.join(positions)})"
                    )
                continue
            kw = pc.model_dump(exclude={"position"}) if pc else {}
            probes[idx] = FiberProbe(position, **kw)
        return {"probes": probes}

    def describe(self, driver, entry: ThermometerEntry) -> list[str]:
        driver.initialize()
        lines = ["identity: " + format_info(driver.identity())]
        temps = driver.read_temperatures()
        probes = driver.probe_status()
        for ch in sorted(probes):
            role = entry.channels.get(ch, "(unused)")
            t = temps.get(ch)
            reading = "---.-" if t is None else f"{t:.1f}"
            lines.append(f"channel {ch} {role:<10} {reading} C, probe {probes[ch]}")
        return lines


KIND = ThermometerKind()
