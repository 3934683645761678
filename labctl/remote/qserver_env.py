"""The RE Worker namespace for bluesky-queueserver: a bench, its devices, ``RE`` and plans.

``build_namespace()`` loads the bench named by ``LABCTL_BENCH`` (see :data:`ENV_VARS`)
and returns what the queue server's worker needs: ``RE`` (the bench's own RunEngine,
so the lockstep sleep handler, the safety monitor and the zarr writer come with it),
one entry per bench device, and every labctl plan wrapped as a generator function with
parameter annotations (devices as enums of the bench's device names of the right kind,
the other parameters typed from the plan's signature) so that the RE Manager and its
clients validate items before they are queued.  ``run_protocol`` runs a whole protocol
file (its YAML text) with every step validated against the bench before any runs.

Safety on this path is the bench's: setpoints are checked when a plan is created (a
violation fails the item before anything is energized), the safety monitor wraps every
plan, devices de-energize in ``stop()``/``unstage()`` (the RunEngine calls them on
pause, abort and halt), and the bench is closed (outputs off) when the worker process
exits normally (``environment_close``).  ``environment_destroy`` kills the worker: no
code runs then, and the next ``environment_open`` switches every output off at start-up.
"""

from __future__ import annotations

import functools
import inspect
import logging
import multiprocessing.util
import os
import types
import typing
from collections.abc import Callable
from pathlib import Path

from labctl.core.errors import ConfigError
from labctl.protocol.devices import device_parameters

__all__ = ["build_namespace", "plan_wrappers", "ENV_VARS"]

log = logging.getLogger("labctl.remote.qserver")

#: environment variables read by :func:`build_namespace`
ENV_VARS = {
    "LABCTL_BENCH": "bench file (YAML); required",
    "LABCTL_DATA_DIR": "data directory for the run stores (default: the bench file's)",
    "LABCTL_MODE": "sim or real: override the bench file's mode",
    "LABCTL_CLOCK": "lockstep or realtime (simulated benches)",
    "LABCTL_SPEED": "virtual seconds per wall second (realtime clock)",
    "LABCTL_LOCAL_WRITER": "1 (default): write run stores in this process; 0: do not",
    "LABCTL_ZMQ_PUBLISH": "host:port of a 0MQ proxy's input: publish documents there",
    "LABCTL_ZMQ_SERIALIZER": "msgpack (default) or json, for LABCTL_ZMQ_PUBLISH",
    "LABCTL_ZMQ_CLIENT_SECRET": "CURVE client secret certificate file (with the next)",
    "LABCTL_ZMQ_SERVER_PUBLIC": "CURVE public certificate file of the proxy's input",
}


def _type_str(hint) -> str | None:
    """A type hint as the queue server parses it (``float``, ``dict | None``), or None."""
    if hint is type(None):
        return "None"
    if isinstance(hint, type) and hint.__module__ == "builtins":
        return hint.__name__
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    parts = [_type_str(h) for h in args]
    if None in parts:
        return None
    if isinstance(hint, types.UnionType) or origin is typing.Union:
        return " | ".join(parts)
    if origin in (list, tuple, dict) and parts:
        return f"{origin.__name__}[{', '.join(parts)}]"
    return None


def _wrap(name: str, fn: Callable, device_names: dict[str, list[str]]) -> Callable:
    """``fn`` as a generator function carrying queue-server parameter annotations."""
    from bluesky_queueserver import parameter_annotation_decorator

    @functools.wraps(fn)
    def plan(*args, **kwargs):
        return (yield from fn(*args, **kwargs))

    plan.__name__ = plan.__qualname__ = name
    try:
        hints = typing.get_type_hints(fn)
    except (NameError, TypeError) as exc:  # unresolvable hints: leave them unannotated
        log.warning("plan %s: type hints not usable for validation: %s", name, exc)
        hints = {}
    params: dict[str, dict] = {}
    device_params = device_parameters(fn)
    for pname in inspect.signature(fn).parameters:
        if pname in device_params:
            enum = f"{pname.capitalize()}Device"
            dtype = device_params[pname][0].__name__
            params[pname] = {
                "annotation": enum,
                "devices": {enum: device_names.get(pname, [])},
                "description": f"bench device: a {dtype}",
            }
        elif pname in hints and (text := _type_str(hints[pname])) is not None:
            params[pname] = {"annotation": text}
    doc = (fn.__doc__ or "").strip().split("\n\n")[0]
    return parameter_annotation_decorator({"description": doc, "parameters": params})(plan)


def plan_wrappers(bench) -> dict[str, Callable]:
    """Every plan of ``labctl.plans`` (that this bench has devices for) as an annotated
    generator function, plus ``run_protocol``."""
    from labctl import plans

    wrapped = {}
    for name in plans.__all__:
        fn = getattr(plans, name)
        device_names = {
            p: sorted(n for n, d in bench.devices.items() if isinstance(d, dtype))
            for p, (dtype, _optional) in device_parameters(fn).items()
        }
        needs = [p for p, (_t, optional) in device_parameters(fn).items() if not optional]
        if all(device_names.get(p) for p in needs):
            wrapped[name] = _wrap(name, fn, device_names)
    wrapped["run_protocol"] = _protocol_plan(bench)
    return wrapped


def _protocol_plan(bench) -> Callable:
    from bluesky_queueserver import parameter_annotation_decorator

    from labctl.protocol.runner import build_steps, load_protocol

    @parameter_annotation_decorator(
        {
            "description": "Run a protocol file (its YAML text) on this bench: every step is "
            "built and validated against the bench limits before the first runs.",
            "parameters": {
                "protocol": {"annotation": "str", "description": "the protocol file's text"},
                "source": {
                    "annotation": "str",
                    "description": "where the text came from (for error messages)",
                },
            },
        }
    )
    def run_protocol(protocol: str, source: str = "<protocol>"):
        parsed, doc = load_protocol(text=protocol, source=source)
        steps = build_steps(parsed, doc, bench)
        results = []
        for plan in steps:
            results.append((yield from plan))
        return len(results)

    return run_protocol


def _env_bool(env: typing.Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={value!r}: expected 1/0, true/false, yes/no or on/off")


def _say(text: str) -> None:
    """Log and print: the RE Manager publishes the worker's console to its clients."""
    log.info(text)
    print(f"labctl: {text}", flush=True)


def _close_bench(bench) -> None:
    bench.close()
    _say(f"bench {bench.name} closed: outputs off, transports closed")


def build_namespace(environ: typing.Mapping[str, str] | None = None) -> dict:
    """Load the bench named by ``LABCTL_BENCH`` and return the worker namespace.

    Keys: ``RE``, ``bench``, one per device, one per plan, ``run_protocol``, and
    ``publisher`` (the 0MQ document publisher, or None).
    """
    from labctl.bench import Bench

    env = dict(os.environ if environ is None else environ)
    bench_file = env.get("LABCTL_BENCH")
    if not bench_file:
        raise ConfigError(
            "LABCTL_BENCH is not set: name the bench file the queue server "
            "should load (e.g. LABCTL_BENCH=examples/benches/sim-vial.yaml)"
        )
    speed = env.get("LABCTL_SPEED")
    local_writer = _env_bool(env, "LABCTL_LOCAL_WRITER", True)
    bench = Bench.from_file(
        Path(bench_file),
        mode=env.get("LABCTL_MODE") or None,
        clock=env.get("LABCTL_CLOCK") or None,
        speed=float(speed) if speed else None,
        data_dir=env.get("LABCTL_DATA_DIR") or None,
        subscribe_writer=local_writer,
    )
    # environment_close ends the worker process through multiprocessing, which runs its
    # finalizers (not atexit); in a main process multiprocessing runs them at exit too.
    multiprocessing.util.Finalize(bench, _close_bench, args=(bench,), exitpriority=100)
    publisher = None
    address = env.get("LABCTL_ZMQ_PUBLISH")
    if address:
        from labctl.remote.publisher import make_publisher

        secret, server = env.get("LABCTL_ZMQ_CLIENT_SECRET"), env.get("LABCTL_ZMQ_SERVER_PUBLIC")
        if bool(secret) != bool(server):
            raise ConfigError("LABCTL_ZMQ_CLIENT_SECRET and LABCTL_ZMQ_SERVER_PUBLIC go together")
        publisher = make_publisher(
            address,
            serializer=env.get("LABCTL_ZMQ_SERIALIZER") or "msgpack",
            curve=(secret, server) if secret else None,
        )
        bench.RE.subscribe(publisher)
    for message in bench.messages:
        _say(message)
    namespace: dict = {"RE": bench.RE, "bench": bench, "publisher": publisher}
    for name, device in bench.devices.items():
        if name in namespace:
            raise ConfigError(f"bench device name {name!r} clashes with a namespace name")
        namespace[name] = device
    for name, plan in plan_wrappers(bench).items():
        if name in namespace:
            raise ConfigError(f"bench device name {name!r} clashes with the plan {name!r}")
        namespace[name] = plan
    return namespace
