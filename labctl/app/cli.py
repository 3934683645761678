"""The ``labctl`` command: run protocols, an IPython shell, devices, runs and reports.

Exit codes: 0 done; 2 invalid input (a bench or protocol file, a run that cannot be
found, a missing optional package); 3 a run failed or was aborted, or a device did not
answer; 130 interrupted (Ctrl-C); 143 (SIGTERM) and 129 (SIGHUP) stopped by a signal,
outputs switched off.  Errors of labctl's own tree print one message, no
traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from labctl.core.errors import (
    ConfigError,
    DataError,
    InstrumentError,
    LabctlError,
    SafetyTrip,
    TransportError,
)
from labctl.safety.signals import Terminated

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_INVALID", "EXIT_FAILED", "EXIT_INTERRUPTED"]

EXIT_OK, EXIT_INVALID, EXIT_FAILED, EXIT_INTERRUPTED = 0, 2, 3, 130


def _cmd_sim_serve(args) -> int:
    from labctl.bench.twin import build_sim_twin
    from labctl.config.bench_file import load_bench_config
    from labctl.core.clock import SimClock
    from labctl.simulators.server import EmulatorServer

    config = load_bench_config(args.bench)
    clock = SimClock("realtime", speed=args.speed if args.speed else config.clock.speed)
    twin = build_sim_twin(config, clock)
    served = {
        name: (emu, config.devices[name].driver_cls.wire) for name, emu in twin.emulators.items()
    }
    server = EmulatorServer(served, host=args.host, traffic_log=args.traffic_log)
    addresses = server.addresses()
    if args.visa == "hislip":
        addresses.update(server.hislip_addresses())
    text = json.dumps(addresses, indent=2)
    if args.ports_file:
        tmp = Path(args.ports_file).with_suffix(".tmp")
        tmp.write_text(text + "\n")
        tmp.replace(args.ports_file)
    print(text, flush=True)
    stop = threading.Event()

    def _stop(signum, frame):
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    server.start()
    while not stop.wait(0.2):
        pass
    server.stop()
    print(f"labctl sim serve: bench {config.name!r} stopped", file=sys.stderr, flush=True)
    return 0


def _cmd_run(args) -> int:
    from labctl.app.study_commands import parse_md
    from labctl.protocol.runner import run_protocol

    steps = run_protocol(
        args.protocol,
        bench=args.bench,
        sim=args.sim,
        speed=args.speed,
        data_dir=args.data_dir,
        quiet=args.quiet,
        table=args.table,
        metadata=parse_md(args.md),
        view=args.view,
    )
    stores = [s.path for s in steps if s.path is not None]
    if stores:
        from labctl.data.locations import register_data_dir

        register_data_dir(Path(stores[0]).parent.parent)  # <data_dir>/<date>/<run>.zarr
    if any(s.interrupted for s in steps):
        return EXIT_INTERRUPTED
    return EXIT_OK if all(s.exit_status == "success" for s in steps) else EXIT_FAILED


def _cmd_shell(args) -> int:
    from labctl.app.shell import start_shell

    return start_shell(args.bench, sim=args.sim, speed=args.speed, data_dir=args.data_dir)


def _cmd_validate(args) -> int:
    from labctl.protocol.runner import validate_file

    status = EXIT_OK
    for path in args.files:
        try:
            _kind, summary = validate_file(path)
            print(summary)
        except LabctlError as exc:
            print(f"labctl: {type(exc).__name__}: {exc}", file=sys.stderr)
            status = EXIT_INVALID
    return status


def _cmd_devices(args) -> int:
    from labctl.app.device_check import check_devices
    from labctl.config.bench_file import load_bench_config

    config = load_bench_config(args.bench, overrides={"mode": "sim" if args.sim else None})
    print(f"bench {config.name!r} ({config.mode}): {len(config.devices)} device(s)")
    failed = 0
    for _name, ok, lines in check_devices(config):
        failed += not ok
        print(lines[0])
        for line in lines[1:]:
            print(f"    {line}")
    if failed:
        print(f"labctl: {failed} device(s) did not answer", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def _data_dirs(args) -> list[Path]:
    if getattr(args, "data_dir", None):
        return [Path(args.data_dir)]
    if getattr(args, "bench", None):
        from labctl.config.bench_file import load_bench_config

        return [Path(load_bench_config(args.bench).data_dir)]
    from labctl.data.locations import known_data_dirs

    return [Path("data"), *known_data_dirs()]


def _cmd_runs(args) -> int:
    from labctl.data import Catalog
    from labctl.report.summary import format_run_list

    if args.study:
        from labctl.study.status import print_study_runs

        return print_study_runs(args, _data_dirs(args) if args.dir is None else [Path(args.dir)])
    data_dir = Path(args.dir) if args.dir else _data_dirs(args)[0]
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: no such data directory")
    catalog = Catalog(data_dir)
    runs = catalog.search(plan_name=args.plan) if args.plan else list(catalog)
    if args.last:
        runs = runs[-args.last :]
    print("\n".join(format_run_list(runs)) if runs else f"{data_dir}: no runs")
    return EXIT_OK


def _find(args) -> Path:
    from labctl.report.summary import find_run

    return find_run(args.run, _data_dirs(args))


def _cmd_show(args) -> int:
    from labctl.data import read_run
    from labctl.report.summary import describe_run

    print(describe_run(read_run(_find(args))))
    return EXIT_OK


def _cmd_report(args) -> int:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ConfigError("labctl report needs matplotlib: pip install 'labctl[plot]'") from None
    from labctl.report.build import make_report

    report = make_report(_find(args), args.output)
    for fig in report.figures:
        print(f"  {fig.file:<28} {fig.title}")
    print(f"report: {report.index}")
    return EXIT_OK


def _cmd_recover(args) -> int:
    from labctl.data import recover

    rep = recover(_find(args))
    if not rep.changed:
        print(f"{rep.path}: complete, nothing to recover")
        return EXIT_OK
    print(f"{rep.path}: recovered, exit status {rep.stop.get('exit_status')}")
    for stream, n in rep.rows.items():
        added = rep.restored.get(stream, 0)
        print(f"  {stream}: {n} rows" + (f" ({added} restored from the journal)" if added else ""))
    for key, n in rep.lost.items():
        print(f"  {key}: {n} value(s) lost")
    if rep.skipped:
        print(f"  {len(rep.skipped)} journal line(s) skipped:")
        for why in rep.skipped:
            print(f"    {why}")
    for descriptor, n in rep.orphans.items():
        print(f"  {n} event(s) of descriptor {descriptor} not recovered: descriptor missing")
    if rep.duplicates:
        print(f"  {rep.duplicates} duplicated document(s) written once")
    return EXIT_OK


def _add_run_lookup(p) -> None:
    p.add_argument("run", metavar="RUN", help="run store path, or uid (prefix)")
    p.add_argument("--data-dir", help="where to look for a uid (default: ./data)")
    p.add_argument("--bench", help="look for a uid in this bench's data_dir")


def _add_view_option(p) -> None:
    p.add_argument(
        "--view",
        nargs="?",
        const="",
        default=None,
        metavar="HOST:PORT",
        help="serve a live page of the runs in the browser (default 127.0.0.1 and a free "
        "port) and print its URL on a line starting 'live view: '",
    )


def _add_twin_options(p, *, sim_help: str, speed_help: str) -> None:
    """``--sim``, ``--speed`` and ``--data-dir``: the simulated twin, its clock, the stores."""
    p.add_argument("--sim", action="store_true", help=sim_help)
    p.add_argument("--speed", type=float, default=None, help=speed_help)
    p.add_argument("--data-dir", default=None, help="where run stores go (default: bench's)")


def _add_run_parser(sub) -> None:
    """``labctl run``."""
    run = sub.add_parser(
        "run",
        help="run a protocol file on a bench",
        description="Run every step of a protocol (YAML).  All steps are validated against "
        "the bench limits before the first one starts.  Exit codes: 0 done, "
        "2 invalid input, 3 a step failed or was aborted (outputs are off), "
        "130 interrupted.",
    )
    run.add_argument("protocol", help="protocol file (YAML)")
    run.add_argument("--bench", help="bench file (default: the protocol's 'bench:')")
    _add_twin_options(
        run,
        sim_help="run on the bench's simulated twin (lockstep clock unless --speed)",
        speed_help="with --sim: realtime clock at this many virtual s per wall s",
    )
    run.add_argument(
        "--quiet", action="store_true", help="print only one result line per run (for automation)"
    )
    run.add_argument(
        "--table",
        action="store_true",
        help="a live table of the readings instead of the progress line",
    )
    run.add_argument(
        "--md",
        action="append",
        metavar="KEY=VALUE",
        help="metadata for the start documents (repeatable), e.g. --md subject=M03",
    )
    _add_view_option(run)
    run.set_defaults(func=_cmd_run)


def _add_shell_parser(sub) -> None:
    """``labctl shell``."""
    shell = sub.add_parser(
        "shell",
        help="IPython with the bench's devices, RE, plans and run catalog",
        description="Start IPython with the bench ('bench', each device by name), 'RE' "
        "(with a live table), the plans and 'catalog'.  With --sim the "
        "simulated twin runs on a realtime clock, so temperatures change while "
        "you type.  Outputs are switched off on exit.",
    )
    shell.add_argument("--bench", required=True, help="bench file (YAML)")
    _add_twin_options(
        shell,
        sim_help="use the bench's simulated twin",
        speed_help="with --sim: virtual seconds per wall second (default: bench's)",
    )
    shell.set_defaults(func=_cmd_shell)


def _add_sim_parser(sub) -> None:
    """``labctl sim serve``."""
    sim = sub.add_parser(
        "sim",
        help="simulated instruments",
        description="Simulated instruments.  See 'labctl sim serve --help'.",
    )
    simsub = sim.add_subparsers(dest="sim_command", metavar="SUBCOMMAND")
    simsub.required = True
    serve = simsub.add_parser(
        "serve",
        help="serve a bench's emulators on loopback TCP (realtime clock)",
        description="Run the bench's emulators in this process on loopback TCP ports and "
        "print a JSON object mapping device name to address (serial "
        "instruments as socket://127.0.0.1:PORT, SCPI instruments as "
        "TCPIP0::127.0.0.1::PORT::SOCKET).  Stops on SIGINT/SIGTERM.",
    )
    serve.add_argument("--bench", required=True, help="bench file (YAML)")
    serve.add_argument("--ports-file", help="also write the address JSON to this file")
    serve.add_argument(
        "--speed",
        type=float,
        default=None,
        help="virtual seconds per wall second (default: the bench's)",
    )
    serve.add_argument(
        "--traffic-log", help="append every emulator's bytes in/out (bench-clock times) here"
    )
    serve.add_argument(
        "--visa",
        choices=("socket", "hislip"),
        default="socket",
        help="address listed for SCPI instruments: raw socket or HiSLIP (both are served)",
    )
    serve.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    serve.set_defaults(func=_cmd_sim_serve)


def _add_devices_parser(sub) -> None:
    """``labctl devices``."""
    devices = sub.add_parser(
        "devices",
        help="connect to each device and print its identity and status",
        description="Connect to every device of the bench, one at a time, and print its "
        "identity and status (thermometer identity and probes, AMF status "
        "line and faults, laser *IDN? and trips).  Nothing is switched on.  "
        "Exit code 3 if a device did not answer.",
    )
    devices.add_argument("--bench", required=True, help="bench file (YAML)")
    devices.add_argument("--sim", action="store_true", help="the bench's simulated twin")
    devices.set_defaults(func=_cmd_devices)


def _add_runs_parser(sub) -> None:
    """``labctl runs``."""
    runs = sub.add_parser(
        "runs",
        help="list the runs in a data directory",
        description="List the runs under DATA_DIR (default: ./data, or "
        "the data_dir of --bench), oldest first.",
    )
    runs.add_argument("dir", nargs="?", metavar="DATA_DIR")
    runs.add_argument("--bench", help="list this bench's data_dir")
    runs.add_argument("--plan", help="only runs of this plan")
    runs.add_argument("--last", type=int, default=0, metavar="N", help="only the last N runs")
    runs.add_argument("--study", help="only this study's runs (study id or study file)")
    runs.add_argument("--subject", help="with --study: only this subject")
    runs.add_argument("--group", help="with --study: only this group")
    runs.set_defaults(func=_cmd_runs)


def _add_run_reading_parsers(sub) -> None:
    """``labctl show``, ``report`` and ``recover``: one run each."""
    show = sub.add_parser(
        "show",
        help="a run's metadata, streams and results",
        description="Print a run's metadata, plan arguments, streams "
        "(events and data keys) and analysis results.",
    )
    _add_run_lookup(show)
    show.set_defaults(func=_cmd_show)

    report = sub.add_parser(
        "report",
        help="write a run's figures (PNG) and index.html",
        description="Write PNG figures and an index.html for a run: temperatures with "
        "target and limits, field or laser power, CEM43, SAR or PCE fits, "
        "image montages.  Needs matplotlib (pip install 'labctl[plot]').",
    )
    _add_run_lookup(report)
    report.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        help="output directory (default: <store>_report beside the store)",
    )
    report.set_defaults(func=_cmd_report)

    rec = sub.add_parser(
        "recover",
        help="complete a run store whose process died",
        description="Rebuild the end of a run store from its journal after a crash (idempotent).",
    )
    _add_run_lookup(rec)
    rec.set_defaults(func=_cmd_recover)


def _add_validate_parser(sub) -> None:
    """``labctl validate``."""
    validate = sub.add_parser(
        "validate",
        help="check bench and protocol files",
        description="Check bench and protocol files (the kind is told from the keys).  "
        "A protocol's bench is checked too, and its steps are built on the "
        "bench's simulated twin so setpoints are checked against the limits.  "
        "Exit code 2 if any file is invalid.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(func=_cmd_validate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labctl",
        description="Instrument control and acquisition for preclinical thermal therapy "
        "and imaging.",
        epilog="Exit codes: 0 done, 2 invalid input, 3 run failed or aborted (or a device "
        "did not answer), 130 interrupted.",
    )
    parser.add_argument("--debug", action="store_true", help="log everything and show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    for add in (
        _add_run_parser,
        _add_shell_parser,
        _add_sim_parser,
        _add_devices_parser,
        _add_runs_parser,
        _add_run_reading_parsers,
        _add_validate_parser,
    ):
        add(sub)
    from labctl.app.study_commands import add_export_parser, add_study_parser

    add_study_parser(sub)
    add_export_parser(sub)
    return parser


class _BriefFormatter(logging.Formatter):
    """``labctl: <logger>: message``, without the traceback (``--debug`` shows it)."""

    def formatException(self, ei) -> str:  # noqa: N802 (logging's name)
        return ""

    def format(self, record) -> str:
        record.exc_text = ""
        return super().format(record)


#: RunEngine messages that repeat what ``labctl run`` says itself
_QUIET_MESSAGES = ("Run aborted", "No open traces left to close!")


def _configure_logging(debug: bool) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    if debug:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.DEBUG)
    else:
        handler.setFormatter(_BriefFormatter("labctl: %(name)s: %(message)s"))
        handler.setLevel(logging.WARNING)
        handler.addFilter(
            lambda r: not (r.name.startswith("bluesky") and r.getMessage() in _QUIET_MESSAGES)
        )
    root = logging.getLogger()
    root.addHandler(handler)
    if debug:
        root.setLevel(logging.DEBUG)
    return handler


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = _configure_logging(args.debug)
    try:
        return args.func(args) or 0
    except LabctlError as exc:
        if args.debug:
            raise
        print(f"labctl: {type(exc).__name__}: {exc}", file=sys.stderr)
        # a device that does not answer or refuses, or a trip: the run failed (3)
        failed = isinstance(exc, TransportError | InstrumentError | SafetyTrip)
        return EXIT_FAILED if failed else EXIT_INVALID
    except Terminated as exc:  # SIGTERM/SIGHUP: outputs were switched off
        print(f"labctl: {exc.reason}; outputs are off", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("labctl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        logging.getLogger().removeHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
