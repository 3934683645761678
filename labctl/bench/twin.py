"""The simulated twin of a bench: its sample model, world and one emulator per device.

Used by ``Bench`` in ``mode: sim`` (emulators in process, reached through ``sim://``)
and by ``labctl sim serve`` (emulators behind loopback TCP sockets).  Cameras have no
wire: their simulators (``cameras``) implement the camera interface directly and the
bench hands them to the camera devices as drivers.
"""

from __future__ import annotations

import inspect

from labctl.config.bench_file import BenchConfig
from labctl.core.clock import Clock
from labctl.core.errors import ConfigError
from labctl.kinds import get_kind
from labctl.kinds.plugins import emulator_class

__all__ = ["SimTwin", "build_sim_twin", "build_emulator"]


class SimTwin:
    """The world (sample + clock + rng), the emulators and the simulated cameras standing
    in for a bench."""

    def __init__(self, world, emulators: dict, cameras: dict | None = None) -> None:
        self.world = world
        self.emulators = emulators
        self.cameras = dict(cameras or {})

    @property
    def sample(self):
        return self.world.sample


def build_emulator(name: str, entry, world):
    """The emulator (or simulated camera) of one bench entry: its driver's emulator class,
    given its kind's options and the entry's ``sim`` options, and the unit's configuration
    (the driver's options): through ``cls.from_bench(world, name=, options=, ...)`` if
    the class has it, else those driver options its constructor names."""
    kind = get_kind(entry.kind)
    cls = emulator_class(entry.driver_cls, entry.driver)
    options = {**kind.emulator_options(name, entry, world.sample), **entry.sim}
    try:
        from_bench = getattr(cls, "from_bench", None)
        if from_bench is not None:
            return from_bench(world, name=name, options=entry.driver_options, **options)
        named = inspect.signature(cls).parameters
        unit = {k: v for k, v in entry.driver_options.items() if k in named}
        return cls(world, name=name, **unit, **options)
    except TypeError as exc:
        raise ConfigError(f"devices.{name}.sim: {exc}") from None
    except ValueError as exc:  # emulators and cameras check their option values
        raise ConfigError(f"devices.{name}: {exc}") from None


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
    for name, entry in config.devices.items():
        sim = build_emulator(name, entry, world)
        (emulators if entry.wired else cameras)[name] = sim
    return SimTwin(world, emulators, cameras)
