"""Declarative protocols: a YAML file naming a bench, metadata and a list of plan steps.

```yaml
protocol: hyperthermia-43C-30min
bench: ../benches/sim-mouse.yaml        # relative to this file
metadata: {study: MH-2026-07, animal_id: M12, nanoparticle: IONP-14nm lot 3,
           dose_mg_Fe_per_mL: 5, operator: jd}
steps:
  - plan: magnetic_hyperthermia
    args: {target: 43, hold: 1800, frequency: 230000, max_field: 12}
```

Each step's devices are named in ``devices: {amf: coil2}``; a device parameter the step
does not name gets the bench's one device of the type the plan asks for
(:mod:`labctl.protocol.devices`).
Every step is built (and so validated against the bench limits) before the first one
runs: a protocol that would exceed a limit anywhere energizes nothing.
"""

from __future__ import annotations

import inspect
import math
import re
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PydanticSchemaGenerationError,
    TypeAdapter,
    ValidationError,
)

from labctl.config.yaml_loading import YamlDoc, format_validation_error, load_yaml
from labctl.core.errors import ConfigError, DataError, LabctlError
from labctl.protocol.devices import device_parameters, resolve_devices

__all__ = [
    "run_protocol",
    "StepResult",
    "Protocol",
    "Step",
    "load_protocol",
    "build_steps",
    "bench_path",
    "file_kind",
    "validate_file",
    "check_setpoints",
]


def _plans() -> dict:
    from labctl import plans

    return {name: getattr(plans, name) for name in plans.__all__}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Metadata(BaseModel):
    """Recorded in every run's start document; extra fields are kept."""

    model_config = ConfigDict(extra="allow")
    study: str | None = None
    animal_id: str | None = None
    sample_id: str | None = None
    nanoparticle: str | None = None
    dose: str | float | None = None
    operator: str | None = None
    notes: str | None = None


class Step(_Strict):
    plan: str
    args: dict[str, Any] = Field(default_factory=dict)
    devices: dict[str, str] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)


class Protocol(_Strict):
    protocol: str
    description: str = ""
    bench: str | None = None
    metadata: Metadata = Field(default_factory=Metadata)
    steps: list[Step] = Field(..., min_length=1)


def load_protocol(
    path: str | Path | None = None, *, text: str | None = None, source: str | None = None
) -> tuple[Protocol, YamlDoc]:
    """Read and validate a protocol file (structure and plan names/arguments)."""
    doc = load_yaml(path, text=text, source=source)
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{doc.source}: a protocol file must be a mapping of keys")
    try:
        protocol = Protocol.model_validate(doc.data)
    except ValidationError as exc:
        raise format_validation_error(exc, doc, "protocol file") from None
    plans = _plans()
    for i, step in enumerate(protocol.steps):
        where = doc.where(("steps", i, "plan"))
        if step.plan not in plans:
            raise ConfigError(
                f"{where}: unknown plan {step.plan!r} (known: {', '.join(sorted(plans))})"
            )
        params = inspect.signature(plans[step.plan]).parameters
        device_params = device_parameters(plans[step.plan])
        for key in step.args:
            if key not in params or key in device_params or key == "md":
                allowed = [p for p in params if p not in device_params and p != "md"]
                raise ConfigError(
                    f"{doc.where(('steps', i, 'args', key))}: plan "
                    f"{step.plan!r} has no argument {key!r} "
                    f"(arguments: {', '.join(allowed)})"
                )
        for key in step.devices:
            if key not in device_params:
                raise ConfigError(
                    f"{doc.where(('steps', i, 'devices', key))}: plan "
                    f"{step.plan!r} takes no device {key!r}"
                )
        missing = [
            p.name
            for p in params.values()
            if p.default is inspect.Parameter.empty
            and p.name not in device_params
            and p.name != "md"
            and p.name not in step.args
            and p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        if missing:
            where = doc.where(
                ("steps", i, "args") if "args" in doc.data["steps"][i] else ("steps", i, "plan")
            )
            raise ConfigError(
                f"{where}: plan {step.plan!r} needs {', '.join(repr(m) for m in missing)} in 'args'"
            )
        _check_types(plans[step.plan], step, doc, i)
        for key, value in step.args.items():
            _check_finite(value, ("steps", i, "args", key), doc)
    _check_metadata(protocol, doc)
    return protocol, doc


#: start-document keys the RunEngine sets itself; a protocol setting them is refused
RESERVED_METADATA = ("uid", "time", "scan_id", "plan_name", "plan_type", "plan_args")


def _check_finite(value, path: tuple, doc: YamlDoc) -> None:
    """Every number in a plan argument (nested too) is finite: ``.nan``/``.inf`` is bad
    input (a NaN target or gain compares false with everything)."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, path + (k,), doc)
    elif isinstance(value, list):
        for j, v in enumerate(value):
            _check_finite(v, path + (j,), doc)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(
            f"{doc.where(path)}: {'.'.join(str(p) for p in path[3:])} must be a finite "
            f"number, got {value!r}"
        )


def _check_metadata(protocol: Protocol, doc: YamlDoc) -> None:
    """Metadata must not set what the RunEngine records itself (``uid``, ``time``...)."""
    places = [(("metadata",), protocol.metadata.model_dump(exclude_none=True))]
    places += [(("steps", i, "metadata"), s.metadata) for i, s in enumerate(protocol.steps)]
    for path, md in places:
        for key in RESERVED_METADATA:
            if key in md:
                raise ConfigError(
                    f"{doc.where(path + (key,))}: {key!r} is set by the RunEngine for each "
                    f"run; metadata cannot set it (reserved: {', '.join(RESERVED_METADATA)})"
                )


def _check_types(fn, step: Step, doc: YamlDoc, i: int) -> None:
    """Each argument against the plan's type hints (``target: float`` refuses "hot")."""
    try:
        hints = typing.get_type_hints(fn)
    except (NameError, TypeError):  # a plan with unresolvable hints: skip the check
        return
    for key, value in step.args.items():
        hint = hints.get(key)
        if hint is None:
            continue
        try:
            adapter = TypeAdapter(hint)
        except (PydanticSchemaGenerationError, TypeError):  # a type pydantic cannot check
            continue
        try:
            try:
                adapter.validate_python(value, strict=True)
            except ValidationError:  # YAML has no tuples: a list may stand for one
                adapter.validate_python(_as_tuples(value), strict=True)
        except ValidationError:
            name = getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
            raise ConfigError(
                f"{doc.where(('steps', i, 'args', key))}: {key} must be {name}, got {value!r}"
            ) from None


def _as_tuples(value):
    if isinstance(value, list):
        return tuple(_as_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _as_tuples(v) for k, v in value.items()}
    return value


def bench_path(protocol: Protocol, doc: YamlDoc) -> Path | None:
    """The protocol's bench file, resolved relative to the protocol file."""
    if protocol.bench is None:
        return None
    p = Path(protocol.bench)
    if not p.is_absolute() and doc.source not in ("<text>",):
        p = Path(doc.source).parent / p
    return p


def build_steps(protocol: Protocol, doc: YamlDoc, bench) -> list:
    """Make every step's plan (validating its setpoints against the bench) up front."""
    plans = _plans()
    built = []
    for i, step in enumerate(protocol.steps):
        fn = plans[step.plan]
        kwargs = dict(step.args)
        devices = resolve_devices(fn, step.devices, bench, doc.where(("steps", i)))
        md = {
            **protocol.metadata.model_dump(exclude_none=True),
            **step.metadata,
            "protocol": protocol.protocol,
            "protocol_step": i,
        }
        try:
            built.append(fn(**devices, **kwargs, md=md))
        except TypeError as exc:
            raise ConfigError(f"{doc.where(('steps', i, 'args'))}: {exc}") from None
        except LabctlError as exc:
            key = _culprit(step.args, str(exc))
            path = ("steps", i, "args", key) if key else ("steps", i, "args")
            raise type(exc)(f"{doc.where(path)}: {exc}") from None
    return built


def _culprit(args: dict, message: str) -> str | None:
    """The argument whose value is the first number the error message quotes (the
    offending value comes before the limit), if exactly one argument has it."""
    for number in re.findall(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[+-]?\d+)?", message):
        hits = [
            k
            for k, v in args.items()
            if isinstance(v, int | float)
            and not isinstance(v, bool)
            and number in (f"{v:g}", str(v))
        ]
        if len(hits) == 1:
            return hits[0]
        if hits:
            return None
    return None


def file_kind(doc: YamlDoc) -> str:
    """``"protocol"`` or ``"bench"`` from a parsed file's top-level keys."""
    data = doc.data if isinstance(doc.data, dict) else {}
    if "steps" in data or "protocol" in data:
        return "protocol"
    if "devices" in data:
        return "bench"
    raise ConfigError(
        f"{doc.source}: neither a bench file (it needs 'devices:') nor a "
        "protocol file (it needs 'protocol:' and 'steps:')"
    )


def _sim_check_bench(config, doc: YamlDoc) -> bool:
    """Build the simulated twin of a bench that has a ``sample`` (catches sample and
    probe errors); False if there is no sample to simulate."""
    if config.sample is None:
        return False
    from labctl.bench.twin import build_sim_twin
    from labctl.core.clock import SimClock

    try:
        build_sim_twin(config, SimClock("lockstep"))
    except ConfigError as exc:
        text = str(exc)
        head, sep, rest = text.partition(": ")
        if sep and head.startswith("devices."):
            path = tuple(int(p) if p.isdigit() else p for p in head.split("."))
            raise ConfigError(f"{doc.where(path)}: {rest}") from None
        raise ConfigError(f"{doc.where(('sample',))}: {text}") from None
    return True


def check_setpoints(protocol: Protocol, doc: YamlDoc, bench_file: Path) -> str:
    """Build every step on the bench's simulated twin, which checks each setpoint
    against the bench limits exactly as ``labctl run`` does; nothing is energized."""
    from labctl.bench import Bench

    bench = Bench.from_file(bench_file, mode="sim", subscribe_writer=False)
    try:
        for plan in build_steps(protocol, doc, bench):
            plan.close()
    finally:
        bench.close()
    return f"setpoints within the limits of bench {bench.name!r}"


def validate_file(path: str | Path) -> tuple[str, str]:
    """Validate a bench or protocol file; returns ``(kind, summary)``.

    Raises ``ConfigError`` naming the file, line and key of the first problem.  A
    protocol's bench file is validated too, and when that bench has a ``sample`` to
    simulate, every step is built on its twin so setpoints are checked against limits.
    """
    from labctl.config.bench_file import load_bench_config

    doc = load_yaml(path)
    kind = file_kind(doc)
    if kind == "bench":
        config = load_bench_config(path)
        sim = _sim_check_bench(config, doc)
        return kind, (
            f"{path}: valid bench file {config.name!r} ({config.mode}) with "
            f"devices {', '.join(config.devices)}" + ("; its simulated twin builds" if sim else "")
        )
    protocol, doc = load_protocol(path)
    summary = (
        f"{path}: valid protocol file {protocol.protocol!r}, {len(protocol.steps)} "
        f"step(s): {', '.join(s.plan for s in protocol.steps)}"
    )
    bench_file = bench_path(protocol, doc)
    if bench_file is None:
        return kind, summary + " (no 'bench:', so setpoints were not checked against limits)"
    if not bench_file.exists():
        raise ConfigError(f"{doc.where(('bench',))}: bench file {str(bench_file)!r} not found")
    config = load_bench_config(bench_file)
    if not _sim_check_bench(config, load_yaml(bench_file)):
        return kind, summary + (
            f"; bench {config.name!r} has no 'sample' to simulate, so "
            "setpoints were not checked against its limits"
        )
    return kind, summary + "; " + check_setpoints(protocol, doc, bench_file)


@dataclass
class StepResult:
    """How one step of a protocol run ended."""

    step: int  #: 1-based
    plan: str
    uid: str | None
    exit_status: str  #: "success", "abort", "fail" (event-model's), or "incomplete"
    path: Path | None  #: the run's zarr store
    reason: str = ""
    interrupted: bool = False


class _RunRecorder:
    """Remembers the last run's start uid and stop document."""

    def __init__(self) -> None:
        self.uid: str | None = None
        self.stop: dict = {}

    def __call__(self, name, doc) -> None:
        if name == "start":
            self.uid, self.stop = doc["uid"], {}
        elif name == "stop":
            self.stop = doc


def _run_step(
    the_bench, recorder: _RunRecorder, guard, i: int, name: str, plan, live=None
) -> StepResult:
    """Run one step (through the live view's controls if any); print its result line
    (and, if it did not succeed, why)."""
    from bluesky.utils import RunEngineInterrupted

    from labctl.safety.signals import CTRL_C_REASON, abort_run

    error, interrupted = None, False
    try:
        if live is not None:
            live.controls.run(plan)
        else:
            the_bench.RE(plan)
    except RunEngineInterrupted:  # Ctrl-C (paused), or a signal (aborted)
        abort_run(the_bench.RE, guard.reason or CTRL_C_REASON)
        interrupted = True
    except LabctlError as exc:
        error = exc
    except OSError as exc:  # the run store cannot be written (disk full...)
        error = DataError(f"writing the run failed: {exc}")
    stop = recorder.stop
    result = StepResult(
        i,
        name,
        recorder.uid,
        stop.get("exit_status", "fail" if error else "incomplete"),
        the_bench.last_run_path,
        f"{type(error).__name__}: {error}" if error else stop.get("reason", ""),
        interrupted,
    )
    print(
        f"run {result.uid or '?'} ({name}): {result.exit_status}"
        + (f", data in {result.path}" if result.path else ""),
        flush=True,
    )
    if interrupted:
        why = guard.reason or CTRL_C_REASON
        print(f"labctl: step {i} {why}; outputs are off", file=sys.stderr)
    elif result.exit_status != "success" or error is not None:
        print(
            f"labctl: step {i} ended {result.exit_status}: {result.reason}; outputs are off",
            file=sys.stderr,
        )
        if result.exit_status == "success":  # an error after a successful stop document
            result.exit_status = "fail"
    return result


def run_protocol(
    path: str | Path,
    *,
    bench: str | Path | None = None,
    sim: bool = False,
    speed: float | None = None,
    data_dir: str | Path | None = None,
    quiet: bool = False,
    table: bool = False,
    metadata: dict[str, Any] | None = None,
    sample: dict[str, Any] | None = None,
    view: str | None = None,
) -> list[StepResult]:
    """Run every step of a protocol file (what ``labctl run`` does).

    ``bench`` overrides the protocol's ``bench:``; ``sim`` runs the bench's simulated
    twin on a lockstep clock (realtime at ``speed`` if given).  Prints the bench's
    messages and a progress display (``table``: a live table) unless ``quiet``, and
    always one line per run: ``run <uid> (<plan>): <exit status>, data in <store>``.
    ``view`` (``HOST:PORT``, "" for loopback and a free port) serves the live page
    (``labctl.view``) and prints ``live view: <url>``; its buttons pause, resume and
    abort.  Stops at the first step that does not succeed (Ctrl-C aborts the running step);
    outputs are off at the end whatever happened.  Invalid input raises ``ConfigError``
    or ``LimitError`` before anything is energized.  ``metadata`` adds to (and overrides)
    the protocol's metadata; ``sample`` replaces the simulated bench's sample section.
    """
    from labctl.safety.signals import SignalGuard

    protocol, doc = load_protocol(path)
    if metadata:
        protocol.metadata = Metadata.model_validate(
            {**protocol.metadata.model_dump(exclude_none=True), **metadata}
        )
    bench_file = Path(bench) if bench else bench_path(protocol, doc)
    if bench_file is None:
        raise ConfigError(
            f"{path}: no bench given (use --bench FILE or a 'bench:' key in the protocol)"
        )
    overrides = _clock_overrides(sim, speed)

    def say(text: str) -> None:
        if not quiet:
            print(text, flush=True)

    guard = SignalGuard().install()  # SIGTERM/SIGHUP: outputs off, run aborted
    the_bench = _guarded_bench(
        guard, bench_file, data_dir, overrides, sample=sample, sim=sim, speed=speed
    )
    recorder = _RunRecorder()
    the_bench.RE.subscribe(recorder)
    if not quiet:
        from labctl.protocol.progress import HintedLiveTable, ProgressDisplay

        the_bench.RE.subscribe(HintedLiveTable(min_interval_s=0.2) if table else ProgressDisplay())
    results: list[StepResult] = []
    live = None
    try:
        if view is not None:
            live = _start_view(the_bench, view)
        for message in the_bench.messages:
            say(message)
        plans = build_steps(protocol, doc, the_bench)
        say(
            f"protocol {protocol.protocol!r}: {len(plans)} step(s) on bench "
            f"{the_bench.name!r} ({the_bench.config.mode}, clock {the_bench.clock.kind})"
        )
        for i, (step, plan) in enumerate(zip(protocol.steps, plans, strict=True), 1):
            say(f"step {i}/{len(plans)}: {step.plan}")
            result = _run_step(the_bench, recorder, guard, i, step.plan, plan, live)
            results.append(result)
            if result.interrupted or result.exit_status != "success":
                break
    finally:
        try:
            the_bench.close()
            if live is not None:
                live.stop()
        finally:
            guard.restore()  # raises Terminated after a signal
    return results


def _clock_overrides(sim: bool, speed: float | None) -> dict[str, Any]:
    """Bench-file overrides for ``--sim`` (lockstep, or realtime at ``speed``)."""
    if sim:
        return {"mode": "sim", "clock": "realtime" if speed else "lockstep", "speed": speed}
    if speed:
        raise ConfigError("--speed applies to simulated benches: add --sim")
    return {}


def _guarded_bench(guard, bench_file, data_dir, overrides: dict, **kw):
    """The run's bench, its outputs switched off by ``guard`` on a signal; the guard is
    removed again if the bench cannot be made or its data directory used."""
    from labctl.data.writer import ensure_data_dir

    try:
        the_bench = _make_bench(bench_file, data_dir, overrides, **kw)
    except BaseException:
        guard.restore(raising=False)
        raise
    guard.attach(the_bench.outputs_off, the_bench.RE)
    try:
        ensure_data_dir(the_bench.data_dir)
    except BaseException:
        the_bench.close()
        guard.restore(raising=False)
        raise
    return the_bench


def _make_bench(bench_file, data_dir, overrides: dict, *, sample=None, sim=False, speed=None):
    """The bench of a run; ``sample`` (a simulated subject's sample) replaces the bench
    file's."""
    from labctl.bench import Bench

    if sample is None:
        return Bench.from_file(bench_file, data_dir=data_dir, **overrides)
    from labctl.config.bench_file import load_bench_config

    config = load_bench_config(bench_file, overrides={"mode": overrides.get("mode")})
    config.sample = sample
    if sim:
        config.clock.mode = overrides["clock"]
        config.clock.speed = speed or config.clock.speed
    return Bench(config, data_dir=data_dir)


def _start_view(bench, address: str):
    """Serve the live page of ``bench``'s runs; prints its URL (``live view: http...``)."""
    try:
        from labctl.view.server import LiveView
    except ImportError:
        raise ConfigError("--view needs Bokeh: pip install 'labctl[view]'") from None
    live = LiveView.for_bench(bench, address=address or None)
    print(live.start(), flush=True)
    return live
