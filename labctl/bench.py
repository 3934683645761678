"""``Bench``: a bench file turned into a clock, devices, a RunEngine and a data writer.

>>> bench = Bench.from_file("examples/benches/sim-mouse.yaml")   # doctest: +SKIP
>>> bench.thermo.tumor.get()                                     # doctest: +SKIP
>>> bench.RE(plan)                                               # doctest: +SKIP
>>> bench.close()   # outputs off, transports closed             # doctest: +SKIP
"""

from __future__ import annotations

import logging
from pathlib import Path

from labctl.config import AMFConfig, BenchConfig, LaserConfig, ThermometerConfig, load_bench_config
from labctl.core.clock import Clock, SimClock, WallClock, install_sleep_handler
from labctl.core.errors import ConfigError, LabctlError
from labctl.core.transport import open_transport
from labctl.registry import INSTRUMENTS, load_object

__all__ = ["Bench"]

log = logging.getLogger("labctl.bench")


class Bench:
    """Everything a bench file describes, connected and ready.

    Attributes: ``config``, ``clock``, ``limits``, ``devices`` (name -> ophyd device,
    also reachable as attributes), ``drivers``, ``transports``, ``RE``, ``writer``
    (the zarr run writer, or None), ``twin`` (the simulated world and emulators, or
    None on a real bench).
    """

    def __init__(self, config: BenchConfig, *, subscribe_writer: bool = True,
                 data_dir: str | Path | None = None) -> None:
        self.config = config
        self.name = config.name
        self.limits = config.limits.to_limits()
        self.clock: Clock = (
            SimClock(config.clock.mode, speed=config.clock.speed)
            if config.mode == "sim" else WallClock()
        )
        self.data_dir = Path(data_dir if data_dir is not None else config.data_dir)
        self.twin = None
        self.devices: dict = {}
        self.drivers: dict = {}
        self.transports: dict = {}
        self.messages: list[str] = []
        self._closed = False
        try:
            if config.mode == "sim":
                from labctl.simbench import build_sim_twin

                self.twin = build_sim_twin(config, self.clock)
            for name, dev in config.devices.items():
                self._connect(name, dev)
            self._outputs_off_at_start()
        except BaseException:
            self.close()
            raise
        self.RE = self._make_run_engine()
        self.writer = None
        if subscribe_writer:
            self._subscribe_writer()

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path, *, mode: str | None = None,
                  clock: str | None = None, speed: float | None = None,
                  data_dir: str | Path | None = None, subscribe_writer: bool = True) -> Bench:
        """Load a bench file.  ``mode`` ("sim"/"real"), ``clock`` ("lockstep"/"realtime"),
        ``speed`` and ``data_dir`` override the file."""
        config = load_bench_config(path, overrides={"mode": mode})
        if clock is not None:
            config.clock.mode = clock
        if speed is not None:
            config.clock.speed = speed
        return cls(config, subscribe_writer=subscribe_writer, data_dir=data_dir)

    def _connect(self, name: str, dev) -> None:
        entry = INSTRUMENTS[dev.driver]
        address = self.config.address_of(name)
        sims = self.twin.emulators if self.twin is not None else {}
        transport = open_transport(address, timeout=dev.timeout_s, sims=sims, log=True)
        self.transports[name] = transport
        driver_cls = load_object(entry.driver)
        device_cls = load_object(entry.device)
        common = {"clock": self.clock, "limits": self.limits, "name": name}
        if isinstance(dev, ThermometerConfig):
            driver = driver_cls(transport, channels=dev.model_channels, clock=self.clock)
            device = device_cls(driver, roles=dict(dev.channels), **common)
        elif isinstance(dev, AMFConfig):
            driver = driver_cls(transport, unit_address=dev.unit_address, clock=self.clock)
            device = device_cls(driver, coil_calibration=dict(dev.coil_calibration), **common)
        elif isinstance(dev, LaserConfig):
            driver = driver_cls(transport, clock=self.clock)
            device = device_cls(driver, wavelength_nm=dev.wavelength_nm,
                                spot_diameter_mm=dev.spot_diameter_mm,
                                slope_W_per_A=dev.slope_W_per_A, threshold_A=dev.threshold_A,
                                **common)
        else:  # pragma: no cover - the config union is closed
            raise ConfigError(f"devices.{name}: unsupported kind {dev.kind!r}")
        self.drivers[name] = driver
        self.devices[name] = device

    def _outputs_off_at_start(self) -> None:
        """Whatever state the instruments were left in, start with every output off."""
        for name in self.energizing_devices():
            self.devices[name].stop()
            self._say(f"bench {self.name}: {name} output set off at start-up")

    def _make_run_engine(self):
        from bluesky import RunEngine

        RE = RunEngine({}, call_returns_result=True)
        install_sleep_handler(RE, self.clock)
        RE.md["bench"] = self.name
        RE.md["bench_mode"] = self.config.mode
        RE.md["clock"] = self.clock.describe()
        return RE

    def _subscribe_writer(self) -> None:
        try:
            from labctl.data import RunWriter
        except ImportError:  # the data layer is optional at this floor
            return
        self.writer = RunWriter(self.data_dir, on_run_start=self._announce_run)
        self.RE.subscribe(self.writer)

    def _announce_run(self, path) -> None:
        self._say(f"run data: {path}")

    def _say(self, text: str) -> None:
        self.messages.append(text)
        log.info(text)

    # -- use ------------------------------------------------------------------------------
    def energizing_devices(self) -> list[str]:
        """Names of devices that put energy into the sample (AMF generators, lasers)."""
        return [n for n, d in self.config.devices.items() if d.kind in ("amf", "laser")]

    @property
    def last_run_path(self) -> Path | None:
        return getattr(self.writer, "last_path", None)

    def __getattr__(self, name: str):
        devices = self.__dict__.get("devices", {})
        if name in devices:
            return devices[name]
        raise AttributeError(f"bench has no device or attribute {name!r}")

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self.devices))

    def outputs_off(self) -> list[str]:
        """Switch every energizing output off; returns the errors met (empty if none)."""
        errors = []
        for name in self.energizing_devices():
            device = self.devices.get(name)
            if device is None:
                continue
            try:
                device.stop()
            except LabctlError as exc:
                errors.append(f"{name}: {exc}")
        return errors

    def close(self) -> None:
        """Outputs off, transports closed.  Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        errors = self.outputs_off()
        for transport in self.transports.values():
            try:
                transport.close()
            except LabctlError as exc:
                errors.append(str(exc))
        writer = getattr(self, "writer", None)
        if writer is not None and hasattr(writer, "close"):
            writer.close()
        for err in errors:
            log.error("closing bench %s: %s", self.name, err)

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Bench {self.name} ({self.config.mode}, {self.clock.kind}): {list(self.devices)}>"
