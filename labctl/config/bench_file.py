"""Bench files: pydantic models of what a bench holds, loaded from YAML.

Unknown keys and bad values are errors that name the file, line and key path.  See
``examples/benches/`` for complete files and README.md for the reference.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PositiveFloat,
    Tag,
    ValidationError,
    create_model,
    field_validator,
)

from labctl.config.yaml_loading import YamlDoc, format_validation_error, load_yaml
from labctl.core.errors import ConfigError
from labctl.core.limits import HF_BREZOVICH, HF_HERGT_DUTZ, BenchLimits
from labctl.kinds import DeviceEntry, all_kinds
from labctl.kinds.base import entry_model

__all__ = [
    "BenchConfig",
    "LimitsConfig",
    "ClockConfig",
    "SafetyConfig",
    "load_bench_config",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class ClockConfig(_Strict):
    """``lockstep``: virtual time moves when a plan waits; ``realtime``: wall time x speed.
    Only simulated benches use it; a real bench always runs on the wall clock."""

    mode: Literal["lockstep", "realtime"] = "lockstep"
    speed: PositiveFloat = 1.0


class LimitsConfig(_Strict):
    """Safety limits (see ``labctl.core.limits.BenchLimits``)."""

    hf_max: PositiveFloat | Literal["hergt_dutz", "brezovich"] = HF_HERGT_DUTZ
    field_max_kA_m: PositiveFloat = 20.0
    amf_current_max_A: PositiveFloat | None = None
    laser_power_max_W: PositiveFloat | None = None
    irradiance_max_W_cm2: PositiveFloat = 2.0
    temperature_max_C: dict[str, float] = Field(default_factory=dict)
    max_energized_s: PositiveFloat | None = None

    def to_limits(self) -> BenchLimits:
        hf = {"hergt_dutz": HF_HERGT_DUTZ, "brezovich": HF_BREZOVICH}.get(self.hf_max, self.hf_max)
        return BenchLimits(
            hf_max=float(hf),
            field_max_kA_m=self.field_max_kA_m,
            amf_current_max_A=self.amf_current_max_A,
            laser_power_max_W=self.laser_power_max_W,
            irradiance_max_W_cm2=self.irradiance_max_W_cm2,
            temperature_max_C=dict(self.temperature_max_C),
            max_energized_s=self.max_energized_s,
        )


class SafetyConfig(_Strict):
    """The safety monitor (``labctl.safety``): how often it checks and when it trips.
    The temperature maxima per role are ``limits.temperature_max_C``."""

    enabled: bool = True
    period_s: PositiveFloat = Field(
        0.5,
        description="check period while an energizing instrument is in use, s of bench-clock time",
    )
    idle_period_s: PositiveFloat = Field(
        30.0,
        description="check period while nothing the monitor could switch off is in "
        "use or on (imaging, waiting), s",
    )
    stale_periods: float = Field(
        2.0,
        ge=1.0,
        description="trip when a guarded reading or a status is missing this many periods",
    )
    stuck_s: PositiveFloat | None = Field(
        None,
        description="trip when a guarded reading stays identical this long, s "
        "(for probes whose noise exceeds their resolution; off by default)",
    )
    readback_margin: float = Field(
        0.05, ge=0.0, le=1.0, description="relative tolerance of output readbacks vs limits"
    )


class BenchConfig(_Strict):
    """A whole bench: devices, limits, data location and (simulated) sample."""

    name: str
    description: str = ""
    mode: Literal["real", "sim"] = "real"
    clock: ClockConfig = Field(default_factory=ClockConfig)
    data_dir: str = "./data"
    seed: int = Field(0, ge=0, description="seed of the simulated noise (numpy: >= 0)")
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    safety: SafetyConfig = Field(default_factory=SafetyConfig)
    sample: dict[str, Any] | None = Field(
        None, description="simulated sample: {kind: vial|mouse_tumor, ...parameters}"
    )
    devices: dict[str, DeviceEntry] = Field(
        description="device name -> entry; each validated by its kind (labctl.kinds)"
    )

    @field_validator("devices")
    @classmethod
    def _names(cls, v):
        for name in v:
            if not name.isidentifier():
                raise ValueError(f"device name {name!r} must be a Python identifier")
        return v

    def address_of(self, name: str) -> str:
        """The address a device is reached at in this bench's mode."""
        dev = self.devices[name]
        if self.mode == "sim":
            return dev.sim_address or f"sim://{name}"
        if dev.address is None:
            raise ConfigError(
                f"bench {self.name!r}: device {name!r} has no address (needed in mode: real)"
            )
        return dev.address


def load_bench_config(
    path: str | Path | None = None, *, text: str | None = None, overrides: dict | None = None
) -> BenchConfig:
    """Read and validate a bench file; ``overrides`` replace top-level keys."""
    doc: YamlDoc = load_yaml(path, text=text, source=str(path) if path else None)
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{doc.source}: a bench file must be a mapping of keys")
    data = dict(doc.data)
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
    try:
        config = _bench_model(_device_tags(data)).model_validate(data)
    except ValidationError as exc:
        raise format_validation_error(exc, doc, "bench file") from None
    config._source = doc.source  # type: ignore[attr-defined]
    return config


def _entry_tag(value: Any) -> str | None:
    """``"kind:driver"`` of a device entry (the driver defaults to the kind's)."""
    data = value if isinstance(value, dict) else getattr(value, "__dict__", {})
    kind = all_kinds().get(data.get("kind")) if isinstance(data.get("kind"), str) else None
    if kind is None:
        return None
    driver = data.get("driver", kind.entry.model_fields["driver"].default)
    return f"{kind.name}:{driver}"


def _device_tags(data: dict) -> tuple[str, ...]:
    devices = data.get("devices")
    if not isinstance(devices, dict):
        return ()
    found = {t for v in devices.values() if (t := _entry_tag(v)) is not None}
    return tuple(sorted(found))


@cache
def _bench_model(tags: tuple[str, ...]) -> type[BenchConfig]:
    """``BenchConfig`` whose devices validate as their kind's entry plus their driver's
    options (``labctl.kinds.base.entry_model``)."""
    kinds = all_kinds()
    names = ", ".join(kinds)
    defaults = {f"{k.name}:{k.entry.model_fields['driver'].default}" for k in kinds.values()}
    members = tuple(
        Annotated[entry_model(*t.split(":", 1)), Tag(t)] for t in sorted(set(tags) | defaults)
    )
    entry = Annotated[
        Union[members],  # noqa: UP007
        Discriminator(
            _entry_tag,
            custom_error_type="unknown_kind",
            custom_error_message=f"'kind' must be one of: {names}",
        ),
    ]
    return create_model(
        "BenchConfig",
        __base__=BenchConfig,
        devices=(dict[str, entry], Field(description="device name -> entry")),
    )
