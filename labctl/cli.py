"""The ``labctl`` command."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from labctl.core.errors import ConfigError, LabctlError

__all__ = ["main"]


def _cmd_sim_serve(args) -> int:
    from labctl.config import load_bench_config
    from labctl.core.clock import SimClock
    from labctl.registry import INSTRUMENTS
    from labctl.simbench import build_sim_twin
    from labctl.simulators.server import EmulatorServer

    config = load_bench_config(args.bench)
    clock = SimClock("realtime", speed=args.speed if args.speed else config.clock.speed)
    twin = build_sim_twin(config, clock)
    served = {name: (emu, INSTRUMENTS[config.devices[name].driver].wire)
              for name, emu in twin.emulators.items()}
    server = EmulatorServer(served, host=args.host)
    addresses = server.addresses()
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
    from labctl.bench import Bench
    from labctl.protocol import bench_path, build_steps, load_protocol

    protocol, doc = load_protocol(args.protocol)
    bench_file = Path(args.bench) if args.bench else bench_path(protocol, doc)
    if bench_file is None:
        raise ConfigError(f"{args.protocol}: no bench given (use --bench FILE or a 'bench:' "
                          "key in the protocol)")
    overrides = {}
    if args.sim:
        overrides["mode"] = "sim"
        overrides["clock"] = "realtime" if args.speed else "lockstep"
        overrides["speed"] = args.speed
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    bench = Bench.from_file(bench_file, data_dir=args.data_dir, **overrides)
    failed = False
    try:
        for message in bench.messages:
            say(message)
        plans = build_steps(protocol, doc, bench)
        say(f"protocol {protocol.protocol!r}: {len(plans)} step(s) on bench {bench.name!r} "
            f"({bench.config.mode}, clock {bench.clock.kind})")
        for i, (step, plan) in enumerate(zip(protocol.steps, plans, strict=True)):
            say(f"step {i + 1}/{len(plans)}: {step.plan}")
            result = bench.RE(plan)
            exit_status = getattr(result, "exit_status", "success")
            path = bench.last_run_path
            uids = getattr(result, 'run_start_uids', ()) or ('?',)
            print(f"run {uids[0]} ({step.plan}): {exit_status}"
                  + (f", data in {path}" if path else ""), flush=True)
            if exit_status != "success":
                failed = True
                print(f"labctl: step {i + 1} ended {exit_status}: "
                      f"{getattr(result, 'reason', '')}", file=sys.stderr)
                break
    finally:
        bench.close()
    return 3 if failed else 0


def _cmd_validate(args) -> int:
    from labctl.config import load_bench_config

    config = load_bench_config(args.file)
    print(f"{args.file}: valid bench file {config.name!r} with devices "
          f"{', '.join(config.devices)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labctl",
        description="Instrument control and acquisition for preclinical thermal therapy "
                    "and imaging.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    sim = sub.add_parser("sim", help="simulated instruments")
    simsub = sim.add_subparsers(dest="sim_command", metavar="SUBCOMMAND")
    simsub.required = True
    serve = simsub.add_parser(
        "serve", help="serve a bench's emulators on loopback TCP (realtime clock)",
        description="Run the bench's emulators in this process on loopback TCP ports and "
                    "print a JSON object mapping device name to address (serial "
                    "instruments as socket://127.0.0.1:PORT, SCPI instruments as "
                    "TCPIP0::127.0.0.1::PORT::SOCKET).  Stops on SIGINT/SIGTERM.")
    serve.add_argument("--bench", required=True, help="bench file (YAML)")
    serve.add_argument("--ports-file", help="also write the address JSON to this file")
    serve.add_argument("--speed", type=float, default=None,
                       help="virtual seconds per wall second (default: the bench's)")
    serve.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    serve.set_defaults(func=_cmd_sim_serve)

    run = sub.add_parser(
        "run", help="run a protocol file on a bench",
        description="Run every step of a protocol (YAML).  All steps are validated against "
                    "the bench limits before the first one starts.  Exit codes: 0 done, "
                    "2 invalid input, 3 a step failed or was aborted (outputs are off).")
    run.add_argument("protocol", help="protocol file (YAML)")
    run.add_argument("--bench", help="bench file (default: the protocol's 'bench:')")
    run.add_argument("--sim", action="store_true",
                     help="run on the bench's simulated twin (lockstep clock unless --speed)")
    run.add_argument("--speed", type=float, default=None,
                     help="with --sim: realtime clock at this many virtual s per wall s")
    run.add_argument("--data-dir", default=None, help="where run stores go (default: bench's)")
    run.add_argument("--quiet", action="store_true", help="print only run results")
    run.set_defaults(func=_cmd_run)

    validate = sub.add_parser("validate", help="check a bench file")
    validate.add_argument("file")
    validate.set_defaults(func=_cmd_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except LabctlError as exc:
        print(f"labctl: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("labctl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
