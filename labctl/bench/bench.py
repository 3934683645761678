"""``Bench``: a bench file turned into a clock, devices, a RunEngine and a data writer.

>>> bench = Bench.from_file("examples/benches/sim-mouse.yaml")   # doctest: +SKIP
>>> bench.thermo.tumor.get()                                     # doctest: +SKIP
>>> bench.RE(plan)                                               # doctest: +SKIP
>>> bench.close()   # outputs off, transports closed             # doctest: +SKIP
"""

from __future__ import annotations

import logging
from pathlib import Path

from labctl.bench.connect import connect_driver
from labctl.config.bench_file import BenchConfig, load_bench_config
from labctl.core.clock import Clock, SimClock, WallClock, install_sleep_handler
from labctl.core.errors import LabctlError
from labctl.kinds import get_kind

__all__ = ["Bench"]

log = logging.getLogger("labctl.bench")


class Bench:
    """Everything a bench file describes, connected and ready.

    Attributes: ``config``, ``clock``, ``limits``, ``devices`` (name -> ophyd device,
    also reachable as attributes), ``drivers``, ``transports``, ``RE``, ``writer``
    (the zarr run writer, or None), ``twin`` (the simulated world and emulators, or
    None on a real bench), ``safety`` (the :class:`~labctl.safety.monitor.SafetyMonitor`
    armed for every run, or None if the bench file disables it), ``faults`` (the
    :class:`~labctl.simulators.faults.FaultController` of a simulated bench, else None),
    ``messages`` (what the bench said, e.g. that it switched outputs off at start-up).
    """

    def __init__(
        self,
        config: BenchConfig,
        *,
        subscribe_writer: bool = True,
        data_dir: str | Path | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.limits = config.limits.to_limits()
        self.clock: Clock = (
            SimClock(config.clock.mode, speed=config.clock.speed)
            if config.mode == "sim"
            else WallClock()
        )
        self.data_dir = Path(data_dir if data_dir is not None else config.data_dir)
        self.twin = None
        self.devices: dict = {}
        self.drivers: dict = {}
        self.transports: dict = {}
        self.messages: list[str] = []
        self.safety = None
        self.faults = None
        self._closed = False
        try:
            if config.mode == "sim":
                from labctl.bench.twin import build_sim_twin

                self.twin = build_sim_twin(config, self.clock)
            # energizing devices first, each switched off as soon as it is reached
            energizing = self.energizing_devices()
            for name in sorted(config.devices, key=lambda n: n not in energizing):
                self._connect(name, config.devices[name])
                if name in energizing:
                    self._output_off_at_start(name)
            self.safety = self._make_safety()
            self._inject_configured_faults()
        except BaseException:
            self.close()
            raise
        self.RE = self._make_run_engine()
        self.writer = None
        if subscribe_writer:
            self._subscribe_writer()

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        mode: str | None = None,
        clock: str | None = None,
        speed: float | None = None,
        data_dir: str | Path | None = None,
        subscribe_writer: bool = True,
    ) -> Bench:
        """Load a bench file.  ``mode`` ("sim"/"real"), ``clock`` ("lockstep"/"realtime"),
        ``speed`` and ``data_dir`` override the file."""
        config = load_bench_config(path, overrides={"mode": mode})
        if clock is not None:
            config.clock.mode = clock
        if speed is not None:
            config.clock.speed = speed
        return cls(config, subscribe_writer=subscribe_writer, data_dir=data_dir)

    def _connect(self, name: str, entry) -> None:
        """Driver and ophyd device of one entry, built as its kind describes."""
        driver, transport = connect_driver(name, entry, self.config, self.clock, self.twin)
        if transport is not None:
            self.transports[name] = transport
        self.drivers[name] = driver
        kind = get_kind(entry.kind)
        device = kind.build_device(name, entry, driver, self)
        self.devices[name] = device
        kind.configure(device, entry, simulated=self.twin is not None)

    def devices_of(self, predicate) -> list[str]:
        """Names of the devices whose kind satisfies ``predicate(kind)``."""
        return [n for n, e in self.config.devices.items() if predicate(get_kind(e.kind))]

    def _close_unwired(self) -> list[str]:
        """Stop and close devices without a transport (cameras); the twin's own stay."""
        errors = []
        for name, entry in self.config.devices.items():
            if entry.wired:
                continue
            device, driver = self.devices.get(name), self.drivers.get(name)
            try:
                if device is not None:
                    device.stop()
                if driver is not None:
                    driver.close()
            except LabctlError as exc:
                errors.append(f"{name}: {exc}")
        return errors

    def _output_off_at_start(self, name: str) -> None:
        """Whatever state an instrument was left in (a crashed session), switch its
        output off before the bench talks to anything else."""
        self.devices[name].stop()
        self._say(f"bench {self.name}: {name} output set off at start-up")

    def _make_safety(self):
        """The safety monitor over every thermometer and energizing device."""
        cfg = self.config.safety
        if not cfg.enabled:
            self._say(f"bench {self.name}: safety monitor DISABLED by the bench file")
            return None
        from labctl.safety.monitor import SafetyMonitor

        watches = {
            n: get_kind(self.config.devices[n].kind).watch(
                self.devices[n], self.limits, cfg.readback_margin
            )
            for n in self.energizing_devices()
        }
        monitor = SafetyMonitor(
            self.clock,
            thermometers={n: self.devices[n] for n in self.devices_of(lambda k: k.thermometer)},
            energizers=watches,
            limits=self.limits,
            period_s=cfg.period_s,
            idle_period_s=cfg.idle_period_s,
            stale_periods=cfg.stale_periods,
            stuck_s=cfg.stuck_s,
            readback_margin=cfg.readback_margin,
        )
        if monitor.unguarded:
            self._say(
                f"bench {self.name}: no thermometer reads the guarded roles "
                f"{monitor.unguarded}; the safety monitor cannot watch them"
            )
        return monitor

    def _inject_configured_faults(self) -> None:
        """Faults from the bench file (simulated benches), from bench start-up on."""
        wanted = {n: d.faults for n, d in self.config.devices.items() if d.faults}
        if self.twin is None:
            if wanted:
                self._say(
                    f"bench {self.name}: faults in the bench file are ignored on a real bench"
                )
            return
        from labctl.simulators.faults import Fault, FaultController

        self.faults = FaultController(self.twin.emulators, self.clock, seed=self.config.seed)
        for name, faults in wanted.items():
            dev = self.config.devices[name]
            for f in faults:
                channel = None
                if f.role is not None:
                    channel = {r: c for c, r in get_kind(dev.kind).roles(dev).items()}[f.role]
                fault = Fault(
                    f.kind,
                    name,
                    channel=channel,
                    value=f.value,
                    p=f.p,
                    direction=f.direction,
                    delay_s=f.delay_s,
                    duration_s=f.duration_s,
                    note="bench file",
                )
                self.faults.schedule(f.at_s, fault)
                self._say(f"bench {self.name}: fault {fault.describe()} at +{f.at_s:g} s")

    def _make_run_engine(self):
        from bluesky import RunEngine

        from labctl.safety.run_engine import interruptible_sleep

        RE = RunEngine({}, call_returns_result=True)
        install_sleep_handler(RE, self.clock)
        if self.safety is not None:
            RE.register_command("sleep", interruptible_sleep(self.clock, self.safety))
            self.safety.install(RE)
        RE.md["bench"] = self.name
        RE.md["bench_mode"] = self.config.mode
        RE.md["clock"] = self.clock.describe()
        return RE

    def _subscribe_writer(self) -> None:
        from labctl.data import RunWriter

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
        return self.devices_of(lambda k: k.energizes)

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
        if self.safety is not None:
            self.safety.close()
        if self.faults is not None:
            self.faults.cancel_scheduled()
        errors = self.outputs_off()
        errors += self._close_unwired()
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
