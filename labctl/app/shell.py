"""``labctl shell``: IPython with a bench, its devices, ``RE``, the plans and the catalog.

>>> start_shell("examples/benches/sim-mouse.yaml", sim=True)   # doctest: +SKIP

With ``sim=True`` the bench's simulated twin runs on a **realtime** clock (virtual time
follows wall time x ``speed``), so ``thermo.tumor.get()`` changes while you type and
``RE(plan)`` takes the plan's real duration divided by ``speed``.

Also here: the identity/status queries behind ``labctl devices`` and the shell's
``status()``; each device is reached on its own so one dead link does not hide the rest.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from labctl.core.errors import ConfigError, LabctlError

__all__ = [
    "build_namespace",
    "banner",
    "start_shell",
    "check_devices",
    "describe_driver",
    "make_bench",
]


# -- identity and status of devices -------------------------------------------------------
def _fmt_identity(info: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in info.items() if v not in (None, ""))


def describe_driver(kind: str, driver, roles: dict[int, str] | None = None) -> list[str]:
    """Identity and status lines of a connected driver (queries only; nothing is set)."""
    lines = []
    if kind == "thermometer":
        driver.initialize()
        lines.append("identity: " + _fmt_identity(driver.identity()))
        temps = driver.read_temperatures()
        probes = driver.probe_status()
        for ch in sorted(probes):
            role = (roles or {}).get(ch, "(unused)")
            t = temps.get(ch)
            lines.append(
                f"channel {ch} {role:<10} {'---.-' if t is None else f'{t:.1f}'} C, "
                f"probe {probes[ch]}"
            )
    elif kind == "amf":
        st = driver.status()
        faults = ", ".join(st.faults.names) or "none"
        lines.append(
            f"status: heating {'ON' if st.heating else 'off'}, setpoint "
            f"{st.setpoint_A:.1f} A, current {st.current_A:.1f} A, power "
            f"{st.power_W:.0f} W, frequency {st.frequency_Hz / 1e3:.1f} kHz"
        )
        lines.append(
            f"faults: {faults}" + ("  (interlock tripped)" if st.interlock_tripped else "")
        )
    elif kind == "laser":
        lines.append("identity: " + _fmt_identity(driver.identify()))
        trips = driver.trips()
        tripped = [k for k, v in trips.items() if v]
        lines.append("trips: " + (", ".join(tripped) + " TRIPPED" if tripped else "none"))
        status = driver.read_status()
        lines.append(
            "status: "
            + ", ".join(
                f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in status.items()
            )
        )
    else:  # cameras (a Python interface) and kinds added later: whatever they report
        for method, label in _CAMERA_QUERIES:
            fn = getattr(driver, method, None)
            if callable(fn):
                value = fn()
                if isinstance(value, dict):
                    value = _fmt_identity(value)
                elif isinstance(value, list | tuple):
                    value = " ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
                lines.append(f"{label}: {value}")
        if not lines:
            lines.append(f"connected (no identity query for a {kind})")
    return lines


_CAMERA_QUERIES = (
    ("get_device_info", "identity"),
    ("identity", "identity"),
    ("get_detector_size", "detector (px)"),
    ("get_roi", "roi"),
    ("get_wavelengths", "wavelengths (nm)"),
    ("get_pulse_rate", "pulse rate (Hz)"),
    ("get_exposure", "exposure (s)"),
    ("get_gain", "gain"),
    ("get_excitation", "excitation (nm, mW/cm^2)"),
    ("get_filter", "filter"),
)
CAMERA_KINDS = ("optoacoustic", "fluorescence")


def _make_driver(dev, transport, clock):
    from labctl.bench.plugins import INSTRUMENTS, load_object

    cls = load_object(INSTRUMENTS[dev.driver].driver)
    if dev.kind == "thermometer":
        return cls(transport, channels=dev.model_channels, clock=clock)
    if dev.kind == "amf":
        return cls(transport, unit_address=dev.unit_address, clock=clock)
    return cls(transport, clock=clock)


def _camera_driver(name: str, dev, twin, clock):
    """A camera has no transport: the twin's simulated camera, or a pylablib camera."""
    if twin is not None:
        return twin.cameras[name]
    if dev.driver != "pylablib":
        raise ConfigError(f"devices.{name}: driver {dev.driver!r} is a simulated camera; use --sim")
    from labctl.devices.drivers.pylablib_camera import PylablibCamera, open_pylablib_camera

    if not dev.camera:
        raise ConfigError(
            f"devices.{name}: driver pylablib needs 'camera' (a pylablib class "
            "such as Andor.AndorSDK3Camera)"
        )
    return PylablibCamera(
        open_pylablib_camera(dev.camera, **dev.camera_args),
        clock=clock,
        gain_attribute=dev.gain_attribute,
        excitation_nm=dev.excitation_nm,
        irradiance_mW_cm2=dev.irradiance_mW_cm2,
        filter=dev.filter,
    )


def check_devices(config) -> Iterator[tuple[str, bool, list[str]]]:
    """Connect to each device of a bench config in turn: ``(name, ok, lines)``.

    The first line says which device, where and whether it answered; the others are
    its identity and status (or the error, and what to check).
    """
    from labctl.core.clock import SimClock, WallClock
    from labctl.core.transport import open_transport

    clock = SimClock("lockstep") if config.mode == "sim" else WallClock()
    twin = None
    if config.mode == "sim":
        from labctl.bench.twin import build_sim_twin

        twin = build_sim_twin(config, clock)
    for name, dev in config.devices.items():
        head = f"{name} ({dev.kind}, {dev.driver})"
        address = "?"
        link = None
        try:
            if dev.kind in CAMERA_KINDS:
                address = "simulated camera" if twin is not None else (dev.camera or "?")
                driver = link = _camera_driver(name, dev, twin, clock)
            else:
                address = config.address_of(name)
                link = open_transport(
                    address,
                    timeout=dev.timeout_s,
                    sims=twin.emulators if twin is not None else None,
                )
                driver = _make_driver(dev, link, clock)
            roles = dict(dev.channels) if dev.kind == "thermometer" else None
            lines = describe_driver(dev.kind, driver, roles)
            yield name, True, [f"{head} at {address}: ok", *lines]
        except (LabctlError, OSError, ValueError, ImportError) as exc:
            hint = (
                "check the cable, power and address in the bench file, or use --sim"
                if config.mode == "real"
                else "check the device's sim options"
            )
            yield (
                name,
                False,
                [f"{head} at {address}: FAILED", f"{type(exc).__name__}: {exc}", hint],
            )
        finally:
            # close transports and real cameras (a twin's cameras belong to the twin)
            if link is not None and (twin is None or dev.kind not in CAMERA_KINDS):
                with contextlib.suppress(LabctlError):
                    link.close()


# -- the shell ----------------------------------------------------------------------------
def make_bench(
    bench_file: str | Path,
    *,
    sim: bool = False,
    speed: float | None = None,
    data_dir: str | Path | None = None,
):
    """The bench for an interactive session: with ``sim``, the twin on a realtime clock."""
    from labctl.bench import Bench

    if sim:
        return Bench.from_file(
            bench_file, mode="sim", clock="realtime", speed=speed, data_dir=data_dir
        )
    if speed is not None:
        raise ConfigError("--speed applies to simulated benches: add --sim")
    return Bench.from_file(bench_file, data_dir=data_dir)


def build_namespace(bench, *, table: bool = True, plots: bool | None = None) -> dict:
    """The shell's names: ``bench``, each device, ``RE``, ``bp``/``bps``/``bpp``, the
    plans, ``catalog``, ``read_run``, ``report(run)``, ``status()``.

    ``table`` subscribes a live table to ``RE``; ``plots`` live plots (default: when a
    display exists).
    """
    import bluesky.plan_stubs as bps
    import bluesky.plans as bp
    import bluesky.preprocessors as bpp
    import numpy as np

    from labctl import plans
    from labctl.data import Catalog, read_run
    from labctl.data.writer import ensure_data_dir
    from labctl.protocol.progress import HintedLiveTable, has_display, live_plots

    if table:
        bench.RE.subscribe(HintedLiveTable(min_interval_s=0.2))
    if plots if plots is not None else has_display():
        bec = live_plots()
        if bec is not None:
            bench.RE.subscribe(bec)
    ensure_data_dir(bench.data_dir)

    def report(run=-1, out_dir=None):
        """Write the report of ``run`` (a Run, path, uid or catalog index; default the
        latest) and return its index.html path."""
        from labctl.report.build import make_report

        if isinstance(run, int | str) and not Path(str(run)).exists():
            catalog.refresh()
            run = catalog[run]
        return make_report(getattr(run, "path", run), out_dir).index

    def status():
        """Print each device's identity and status (queries only)."""
        for name, dev in bench.config.devices.items():
            roles = dict(dev.channels) if dev.kind == "thermometer" else None
            print(f"{name} ({dev.kind}):")
            try:
                for line in describe_driver(dev.kind, bench.drivers[name], roles):
                    print(f"    {line}")
            except LabctlError as exc:
                print(f"    FAILED: {type(exc).__name__}: {exc}")

    catalog = Catalog(bench.data_dir)

    def _refresh(name, doc):  # after the writer (subscribed first) has closed the run
        if name == "stop":
            catalog.refresh()

    bench.RE.subscribe(_refresh)
    ns = {
        "bench": bench,
        "RE": bench.RE,
        "bp": bp,
        "bps": bps,
        "bpp": bpp,
        "np": np,
        "catalog": catalog,
        "read_run": read_run,
        "report": report,
        "status": status,
    }
    ns.update({name: getattr(plans, name) for name in plans.__all__})
    ns.update(bench.devices)
    return ns


def banner(bench) -> str:
    """What the shell says when it starts."""
    from labctl import plans

    cfg = bench.config
    clock = bench.clock.kind + (f" x{bench.clock.speed:g}" if cfg.mode == "sim" else "")
    devices = ", ".join(f"{n} ({d.kind})" for n, d in cfg.devices.items())
    thermo = next((n for n, d in cfg.devices.items() if d.kind == "thermometer"), None)
    example = ""
    if thermo is not None:
        role = next(iter(cfg.devices[thermo].channels.values()))
        example = f"   e.g. {thermo}.{role}.get()"
    lines = [
        f"labctl shell: bench {bench.name!r} ({cfg.mode}, clock {clock})",
        f"  devices: {devices}{example}",
        "  RE(plan) runs a plan with a live table; bp, bps: bluesky plans and stubs",
        f"  plans: {', '.join(plans.__all__)}",
        f"  catalog: runs in {bench.data_dir}; report() draws the latest; status() "
        "queries every device",
        "  exit (or Ctrl-D) switches every output off",
        "",
    ]
    lines += [m for m in bench.messages if "output set off" not in m]
    return "\n".join(lines) + "\n"


def start_shell(
    bench_file: str | Path,
    *,
    sim: bool = False,
    speed: float | None = None,
    data_dir: str | Path | None = None,
    argv: list[str] | None = None,
) -> int:
    """Build the bench and run IPython until the user exits; outputs off afterwards."""
    try:
        import IPython
        from traitlets.config import Config
    except ImportError:
        raise ConfigError("labctl shell needs IPython: pip install 'labctl[shell]'") from None
    from labctl.safety.signals import SignalGuard

    guard = SignalGuard(then=_end_ipython).install()  # SIGTERM/SIGHUP: outputs off, exit
    try:
        bench = make_bench(bench_file, sim=sim, speed=speed, data_dir=data_dir)
    except BaseException:
        guard.restore(raising=False)
        raise
    guard.attach(bench.outputs_off, bench.RE)
    try:
        ns = build_namespace(bench)
        cfg = Config()
        cfg.TerminalInteractiveShell.banner2 = banner(bench)
        cfg.TerminalIPythonApp.display_banner = True
        cfg.InteractiveShellApp.hide_initial_ns = True
        if not sys.stdin.isatty():
            cfg.TerminalInteractiveShell.simple_prompt = True
        IPython.start_ipython(argv=argv or [], user_ns=ns, config=cfg)
    finally:
        try:
            bench.close()
        finally:
            guard.restore()  # raises Terminated after a signal
    return 0


def _end_ipython() -> None:
    """Ask the running IPython to end after the current prompt or cell."""
    import IPython

    shell = IPython.get_ipython()
    if shell is not None:
        shell.ask_exit()
