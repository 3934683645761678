"""The simulated twin of a bench: its sample model, world and one emulator per device.

Used by ``Bench`` in ``mode: sim`` (emulators in process, reached through ``sim://``)
and by ``labctl sim serve`` (emulators behind loopback TCP sockets).  Cameras have no
wire: their simulators (``cameras``) implement the camera interface directly and the
bench hands them to the camera devices as drivers.
"""

from __future__ import annotations

import math

from labctl.bench.plugins import INSTRUMENTS, load_object
from labctl.config.bench_file import (
    AMFConfig,
    BenchConfig,
    FluorescenceConfig,
    LaserConfig,
    OptoacousticConfig,
    ThermometerConfig,
)
from labctl.core.clock import Clock
from labctl.core.errors import ConfigError

__all__ = ["SimTwin", "build_sim_twin"]


class SimTwin:
    """The world (sample + clock + rng), the emulators and the simulated cameras standing
    in for a bench."""

    def __init__(self, world, emulators: dict, cameras: dict | None = None) -> None:
        self.world = world
        self.emulators = emulators
        self.cameras = dict(cameras or {})
        from labctl.simulators.instruments.temperature_truth import SimTumorTemperatureMap

        has_map = hasattr(world.sample, "tumor_temperatures")
        #: the tumor's temperature field (simulation only), or None
        self.tumor_map = SimTumorTemperatureMap(world) if has_map else None

    def describe_sample(self) -> dict:
        """The sample as the model has it (recorded in every run's start document)."""
        from labctl.simulators.physics.sample import describe_sample

        return describe_sample(self.world.sample)

    def tumor_map_device(self, clock):
        """A ``TemperatureMap`` device named ``tumor_map`` over :attr:`tumor_map`."""
        from labctl.devices.temperature_map import TemperatureMap

        return TemperatureMap(self.tumor_map, clock=clock, name="tumor_map")

    @property
    def sample(self):
        return self.world.sample


def _emulator_options(name: str, dev, sample) -> dict:
    """Keyword arguments for a device's emulator, from its bench-file section."""
    from labctl.simulators.physics.probes import FiberProbe

    if isinstance(dev, ThermometerConfig):
        probes = {}
        positions = tuple(sample.positions)
        for idx, role in dev.channels.items():
            pc = dev.probes.get(role)
            position = pc.position if pc and pc.position else role
            if position not in positions:
                if pc and pc.position:
                    raise ConfigError(
                        f"devices.{name}.probes.{role}.position: {position!r} is not a "
                        f"position of the sample (known: {', '.join(positions)})"
                    )
                continue  # no probe at a position the sample does not have: reads ---.-
            kw = pc.model_dump(exclude={"position"}) if pc else {}
            probes[idx] = FiberProbe(position, **kw)
        unknown_roles = set(dev.probes) - set(dev.channels.values())
        if unknown_roles:
            raise ConfigError(
                f"devices.{name}.probes: roles {sorted(unknown_roles)} are not "
                "channels of this thermometer"
            )
        return {"channels": dev.model_channels, "probes": probes}
    if isinstance(dev, AMFConfig):
        return {"address": dev.unit_address, "coil_calibration": dict(dev.coil_calibration)}
    if isinstance(dev, LaserConfig):
        return {
            "wavelength_nm": dev.wavelength_nm,
            "spot_diameter_mm": dev.spot_diameter_mm,
            "slope_W_per_A": dev.slope_W_per_A,
            "threshold_A": dev.threshold_A,
            "current_limit_A": dev.current_limit_A,
        }
    if isinstance(dev, OptoacousticConfig):
        return {"wavelengths": list(dev.wavelengths)}
    if isinstance(dev, FluorescenceConfig):
        return {
            "exposure_s": dev.exposure_s,
            "excitation_nm": dev.excitation_nm,
            "irradiance_mW_cm2": dev.irradiance_mW_cm2,
            "filter": dev.filter,
        }
    raise ConfigError(f"devices.{name}: no emulator for kind {dev.kind!r}")


def build_sim_twin(config: BenchConfig, clock: Clock) -> SimTwin:
    """Build the sample model and every device's emulator for ``config``."""
    from labctl.simulators.physics.sample import make_sample
    from labctl.simulators.physics.world import SimWorld

    if config.sample is None:
        raise ConfigError(f"bench {config.name!r}: a simulated bench needs a 'sample' section")
    params = dict(config.sample)
    kind = params.pop("kind", None)
    if kind is None:
        raise ConfigError(f"bench {config.name!r}: sample.kind is missing (vial or mouse_tumor)")
    if not isinstance(kind, str):
        raise ConfigError(
            f"bench {config.name!r}: sample.kind must be a name (vial or mouse_tumor), not {kind!r}"
        )
    try:
        sample = make_sample(kind, **params)
    except (ConfigError, TypeError, ValueError) as exc:
        raise ConfigError(f"bench {config.name!r}, sample: {exc}") from None
    world = SimWorld(clock, sample, seed=config.seed)
    emulators, cameras = {}, {}
    for name, dev in config.devices.items():
        entry = INSTRUMENTS[dev.driver]
        cls = load_object(entry.emulator)
        options = {**_emulator_options(name, dev, sample), **dev.sim}
        try:
            sim = cls(world, name=name, **options)
        except TypeError as exc:
            raise ConfigError(f"devices.{name}.sim: {exc}") from None
        except ValueError as exc:  # emulators and cameras check their option values
            raise ConfigError(f"devices.{name}: {exc}") from None
        (cameras if entry.wire == "none" else emulators)[name] = sim
    return SimTwin(world, emulators, cameras)


def spot_area_cm2(spot_diameter_mm: float) -> float:
    """Area of a round spot, cm^2."""
    return math.pi * (spot_diameter_mm / 20.0) ** 2
