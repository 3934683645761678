"""``labctl shell``: IPython with a bench, its devices, ``RE``, the plans and the catalog.

>>> start_shell("examples/benches/sim-mouse.yaml", sim=True)   # doctest: +SKIP

With ``sim=True`` the bench's simulated twin runs on a **realtime** clock (virtual time
follows wall time x ``speed``), so ``thermo.tumor.get()`` changes while you type and
``RE(plan)`` takes the plan's real duration divided by ``speed``.

Also here: the identity/status queries behind ``labctl devices`` and the shell's
``status()``; each device is reached on its own so one dead link does not hide the rest.
"""

from __future__ import annotations

import sys
from pathlib import Path

from labctl.app.device_check import describe_device
from labctl.core.errors import ConfigError, LabctlError
from labctl.kinds import get_kind

__all__ = [
    "build_namespace",
    "banner",
    "start_shell",
    "make_bench",
]


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
    from labctl.protocol.progress import HintedLiveTable, has_display, live_plots

    if table:
        bench.RE.subscribe(HintedLiveTable(min_interval_s=0.2))
    if plots if plots is not None else has_display():
        bec = live_plots()
        if bec is not None:
            bench.RE.subscribe(bec)
    bench.data_dir.mkdir(parents=True, exist_ok=True)

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
            print(f"{name} ({dev.kind}):")
            try:
                for line in describe_device(dev, bench.drivers[name]):
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
    example = ""
    for name, entry in cfg.devices.items():
        roles = get_kind(entry.kind).roles(entry)
        if roles:
            example = f"   e.g. {name}.{next(iter(roles.values()))}.get()"
            break
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
    bench = make_bench(bench_file, sim=sim, speed=speed, data_dir=data_dir)
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
        bench.close()
    return 0
