"""Bench files: pydantic models of what a bench holds, loaded from YAML.

Unknown keys and bad values are errors that name the file, line and key path.  See
``examples/benches/`` for complete files and README.md for the reference.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from labctl.config.types import (
    Current_A,
    Duration_s,
    Field_kA_m,
    Finite,
    FiniteNonNegative,
    FinitePositive,
    Fraction,
    Frequency_Hz,
    HF_A_m_s,
    Irradiance_W_cm2,
    Length_mm,
    Period_s,
    Periods,
    Power_W,
    Speed,
    Temperature_C,
)
from labctl.config.yaml_loading import YamlDoc, format_validation_error, load_yaml
from labctl.core.errors import ConfigError
from labctl.core.limits import HF_BREZOVICH, HF_HERGT_DUTZ, BenchLimits

__all__ = [
    "BenchConfig",
    "ThermometerConfig",
    "AMFConfig",
    "LaserConfig",
    "LimitsConfig",
    "ClockConfig",
    "SafetyConfig",
    "FaultConfig",
    "OptoacousticConfig",
    "FluorescenceConfig",
    "CAMERA_CONFIGS",
    "load_bench_config",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class ClockConfig(_Strict):
    """``lockstep``: virtual time moves when a plan waits; ``realtime``: wall time x speed.
    Only simulated benches use it; a real bench always runs on the wall clock."""

    mode: Literal["lockstep", "realtime"] = "lockstep"
    speed: Speed = 1.0


class LimitsConfig(_Strict):
    """Safety limits (see ``labctl.core.limits.BenchLimits``)."""

    hf_max: HF_A_m_s | Literal["hergt_dutz", "brezovich"] = HF_HERGT_DUTZ
    field_max_kA_m: Field_kA_m = 20.0
    amf_current_max_A: Current_A | None = None
    laser_power_max_W: Power_W | None = None
    irradiance_max_W_cm2: Irradiance_W_cm2 = 2.0
    temperature_max_C: dict[str, Temperature_C] = Field(default_factory=dict)
    max_energized_s: Duration_s | None = None

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
    period_s: Period_s = Field(
        0.5,
        description="check period while an energizing instrument is in use, s of bench-clock time",
    )
    idle_period_s: Period_s = Field(
        30.0,
        description="check period while nothing the monitor could switch off is in "
        "use or on (imaging, waiting), s",
    )
    stale_periods: Periods = Field(
        2.0,
        description="trip when a guarded reading or a status is missing this many periods",
    )
    stuck_s: Duration_s | None = Field(
        None,
        description="trip when a guarded reading stays identical this long, s "
        "(for probes whose noise exceeds their resolution; off by default)",
    )
    stuck_heating_s: Duration_s | None = Field(
        120.0,
        description="trip when a guarded reading stays identical this long while an "
        "output is energized and another probe's reading changes, s (a probe stuck in "
        "place; null: off)",
    )
    readback_margin: Fraction = Field(
        0.05, description="relative tolerance of output readbacks vs limits"
    )


LINK_FAULT_KINDS = ("drop", "garble", "delay", "disconnect")
#: which instrument faults apply to which device kind (link faults apply to all)
DEVICE_FAULT_KINDS = {
    "thermometer": ("probe_broken", "probe_stuck"),
    "amf": ("coolant_loss", "generator_trip"),
    "laser": ("interlock_open", "keylock_off", "laser_overtemperature"),
    "optoacoustic": (),
    "fluorescence": (),
}


class FaultConfig(_Strict):
    """A fault injected into a simulated device (``labctl.simulators.faults``);
    ignored on a real bench."""

    kind: Literal[
        "drop",
        "garble",
        "delay",
        "disconnect",
        "probe_broken",
        "probe_stuck",
        "interlock_open",
        "keylock_off",
        "laser_overtemperature",
        "coolant_loss",
        "generator_trip",
    ]
    at_s: FiniteNonNegative = Field(0.0, description="clock time after the bench starts, s")
    duration_s: Duration_s | None = Field(None, description="cleared after this long, s")
    role: str | None = Field(None, description="probe faults: the thermometer role")
    value: Temperature_C | None = Field(None, description="probe_stuck: the frozen reading, C")
    p: Fraction = Field(1.0, description="drop/garble probability per byte")
    direction: Literal["in", "out", "both"] = "out"
    delay_s: Period_s = 1.0


class _DeviceBase(_Strict):
    address: str | None = Field(
        None, description="transport address; in sim mode replaced by sim://<name>"
    )
    sim_address: str | None = Field(
        None, description="in sim mode, use this address instead of sim://<name>"
    )
    timeout_s: Period_s = 1.0
    sim: dict[str, Any] = Field(
        default_factory=dict, description="extra emulator options (simulated benches)"
    )
    faults: list[FaultConfig] = Field(
        default_factory=list, description="faults injected into the simulated device"
    )

    @field_validator("address", "sim_address")
    @classmethod
    def _has_scheme(cls, v):
        if v is not None and "://" not in v:
            raise ValueError(
                f"address {v!r} has no scheme (serial://, socket://, visa://, sim://...)"
            )
        return v


class ProbeSimConfig(_Strict):
    position: str | None = None
    tau_s: Period_s = 0.5
    noise_C: FiniteNonNegative = 0.05
    resolution_C: FinitePositive = 0.1
    offset_C: Finite = 0.0


class ThermometerConfig(_DeviceBase):
    kind: Literal["thermometer"]
    driver: Literal["neoptix_reflex"] = "neoptix_reflex"
    channels: dict[int, str] = Field(..., description="channel index (1-based) -> role")
    model_channels: Literal[1, 2, 4] = 4
    probes: dict[str, ProbeSimConfig] = Field(
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
            if not 1 <= idx <= 4:
                raise ValueError(f"channel index {idx} is not 1-4")
            if not role.isidentifier():
                raise ValueError(f"role {role!r} must be a Python identifier")
        return v


class AMFConfig(_DeviceBase):
    kind: Literal["amf"]
    driver: Literal["ambrell_easyheat"] = "ambrell_easyheat"
    unit_address: int = Field(1, ge=1, le=32)
    coil_calibration: dict[Frequency_Hz, FinitePositive] = Field(
        ..., description="frequency (Hz) -> field per coil current (kA/m per A)"
    )


class LaserConfig(_DeviceBase):
    kind: Literal["laser"]
    driver: Literal["thorlabs_itc4000"] = "thorlabs_itc4000"
    wavelength_nm: Finite = Field(808.0, ge=400, le=2000)
    spot_diameter_mm: Length_mm = 8.0
    slope_W_per_A: FinitePositive = 1.0
    threshold_A: FiniteNonNegative = 0.5
    current_limit_A: Current_A = 4.0


class _CameraConfig(_DeviceBase):
    """Cameras have no wire protocol: ``address``/``timeout_s`` are unused.  In ``mode: sim``
    a simulated camera rendering the sample stands in whatever the driver (its options:
    ``sim``); in ``mode: real`` ``driver: pylablib`` opens ``camera`` (a pylablib class
    under ``pylablib.devices``, e.g. ``Andor.AndorSDK3Camera``) with ``camera_args``."""

    roi: list[int] | None = Field(
        None, description="initial ROI [hstart, hend, vstart, vend(, hbin, vbin)], pixels"
    )
    stream_buffer: int = Field(200, ge=2, description="camera buffer while streaming, frames")
    frame_timeout_s: Period_s = Field(
        10.0, description="how long a step acquisition may exceed its nominal time, s"
    )

    @field_validator("faults")
    @classmethod
    def _no_faults(cls, v):
        if v:
            raise ValueError("cameras have no fault injection (no wire to disturb)")
        return v

    @field_validator("roi")
    @classmethod
    def _roi(cls, v):
        if v is not None and (len(v) not in (4, 6) or any(x < 0 for x in v)):
            raise ValueError("roi must be [hstart, hend, vstart, vend(, hbin, vbin)] >= 0")
        return v


class OptoacousticConfig(_CameraConfig):
    kind: Literal["optoacoustic"]
    driver: Literal["sim_msot"] = "sim_msot"
    wavelengths: list[Finite] = Field(
        default_factory=lambda: [800.0], description="excitation sweep, nm (680-980)"
    )
    averages: int = Field(1, ge=1, le=1000, description="pulses averaged per wavelength")


class FluorescenceConfig(_CameraConfig):
    kind: Literal["fluorescence"]
    driver: Literal["sim_fluorescence", "pylablib"] = "sim_fluorescence"
    camera: str | None = Field(
        None,
        description="pylablib camera class under pylablib.devices, e.g. "
        "'Andor.AndorSDK3Camera' (driver: pylablib)",
    )
    camera_args: dict[str, Any] = Field(
        default_factory=dict, description="constructor arguments of the pylablib camera"
    )
    gain_attribute: str | None = Field(
        None,
        description="pylablib camera attribute holding the gain, if the camera has "
        "no get_gain/set_gain",
    )
    exposure_s: Period_s = 0.02
    gain: FinitePositive = 1.0
    excitation_nm: Finite = Field(808.0, ge=400, le=2000)
    irradiance_mW_cm2: FiniteNonNegative = 50.0
    filter: str | None = Field(None, description="emission filter name (default: the camera's)")


CAMERA_CONFIGS = (OptoacousticConfig, FluorescenceConfig)

DeviceConfig = Annotated[
    ThermometerConfig | AMFConfig | LaserConfig | OptoacousticConfig | FluorescenceConfig,
    Field(discriminator="kind"),
]


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
    devices: dict[str, DeviceConfig]

    @field_validator("devices")
    @classmethod
    def _names(cls, v):
        for name in v:
            if not name.isidentifier():
                raise ValueError(f"device name {name!r} must be a Python identifier")
        return v

    @model_validator(mode="after")
    def _check_faults(self):
        for name, dev in self.devices.items():
            if dev.kind in DEVICE_FAULT_KINDS:
                allowed = LINK_FAULT_KINDS + DEVICE_FAULT_KINDS[dev.kind]
            else:  # no byte link to fault (cameras)
                allowed = ()
            for i, fault in enumerate(getattr(dev, "faults", ())):
                where = f"devices.{name}.faults.{i}"
                if fault.kind not in allowed:
                    raise ValueError(
                        f"{where}: fault {fault.kind!r} does not apply to a "
                        f"{dev.kind} (allowed: {', '.join(allowed) or 'none'})"
                    )
                if fault.kind.startswith("probe_"):
                    roles = list(dev.channels.values())
                    if fault.role not in roles:
                        raise ValueError(f"{where}: {fault.kind} needs 'role', one of {roles}")
                    if fault.kind == "probe_stuck" and fault.value is None:
                        raise ValueError(f"{where}: probe_stuck needs the frozen 'value' (C)")
        return self

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
    _refuse_non_finite(doc.data, (), doc)
    data = dict(doc.data)
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
    try:
        config = BenchConfig.model_validate(data)
    except ValidationError as exc:
        raise format_validation_error(exc, doc, "bench file") from None
    config._source = doc.source  # type: ignore[attr-defined]
    return config


def _refuse_non_finite(node, path: tuple, doc: YamlDoc) -> None:
    """No ``.nan``/``.inf`` anywhere in a bench file (sample and emulator options too):
    a non-finite number is never a valid limit, period, geometry or parameter."""
    if isinstance(node, dict):
        for key, value in node.items():
            _refuse_non_finite(value, path + (key,), doc)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _refuse_non_finite(value, path + (i,), doc)
    elif isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(f"{doc.where(path)}: must be a finite number, got {node!r}")
